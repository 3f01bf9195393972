extension Migration {
    /// The service's schema, oldest first. Never edit an entry once it has shipped: add a new one.
    public static let all: [Migration] = [
        Migration(
            version: 1,
            name: "create_users",
            statements: [
                """
                CREATE TABLE users (
                    id uuid PRIMARY KEY,
                    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
                    password_hash text NOT NULL,
                    role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))",
            ]
        ),
        Migration(
            version: 2,
            name: "create_products",
            statements: [
                """
                CREATE TABLE products (
                    id uuid PRIMARY KEY,
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                    description text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
                    price numeric(12, 2) NOT NULL CHECK (price >= 0),
                    currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                    stock integer NOT NULL CHECK (stock >= 0),
                    version bigint NOT NULL DEFAULT 1,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX products_name_id_idx ON products (name, id)",
            ]
        ),
        Migration(
            version: 3,
            name: "create_orders",
            statements: [
                """
                CREATE TABLE orders (
                    id uuid PRIMARY KEY,
                    user_id uuid NOT NULL REFERENCES users (id),
                    status text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'confirmed', 'paid', 'shipped', 'cancelled', 'failed')),
                    total numeric(12, 2) NOT NULL CHECK (total >= 0),
                    currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at DESC)",
                """
                CREATE TABLE order_items (
                    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
                    product_id uuid NOT NULL REFERENCES products (id),
                    quantity integer NOT NULL CHECK (quantity > 0),
                    unit_price numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
                    PRIMARY KEY (order_id, product_id)
                )
                """,
                "CREATE INDEX order_items_product_id_idx ON order_items (product_id)",
            ]
        ),
        Migration(
            version: 4,
            name: "inventory_fencing_and_idempotency",
            statements: [
                // The highest lock fencing token that wrote a product's stock (inventory strategy "lock").
                "ALTER TABLE products ADD COLUMN lock_fence bigint NOT NULL DEFAULT 0",
                // Backs up Redis's Idempotency-Key records: written in the order's transaction, so one key
                // can never create two orders, even if Redis lost its record.
                """
                CREATE TABLE idempotency_records (
                    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
                    request_hash text NOT NULL,
                    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
                    response_status integer NOT NULL,
                    response_body text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (user_id, key)
                )
                """,
                "CREATE INDEX idempotency_records_created_at_idx ON idempotency_records (created_at)",
            ]
        ),
        Migration(
            version: 5,
            name: "daily_sales",
            statements: [
                // One row per day (in JOBS_TIME_ZONE) and currency, written by the daily-sales job: the day's
                // rows are replaced in one transaction, so re-running a day gives the same totals.
                """
                CREATE TABLE daily_sales (
                    day date NOT NULL,
                    currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                    orders integer NOT NULL CHECK (orders >= 0),
                    units bigint NOT NULL CHECK (units >= 0),
                    revenue numeric(14, 2) NOT NULL CHECK (revenue >= 0),
                    computed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (day, currency)
                )
                """,
                // The daily batch reads one day of orders by creation time.
                "CREATE INDEX orders_created_at_idx ON orders (created_at)",
            ]
        ),
        Migration(
            version: 6,
            name: "notifications",
            statements: [
                // The inbox. `seq` numbers one user's notifications 1, 2, 3, ... with no gaps (assigned under a
                // per-user advisory lock, so commit order is seq order): it is the id the API and the SSE
                // stream use, and a stream that sees seq n+2 after n knows it missed n+1.
                """
                CREATE TABLE notifications (
                    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    seq bigint NOT NULL CHECK (seq > 0),
                    kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
                    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
                    body text NOT NULL CHECK (length(body) <= 2000),
                    data jsonb NOT NULL DEFAULT '{}',
                    broadcast_id uuid,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    read_at timestamptz,
                    PRIMARY KEY (user_id, seq)
                )
                """,
                "CREATE INDEX notifications_broadcast_id_idx ON notifications (broadcast_id) WHERE broadcast_id IS NOT NULL",
            ]
        ),
        Migration(
            version: 7,
            name: "outbox_points_post_processing",
            statements: [
                // Orders start as `placed` (stock taken, committed); the post-processing consumer confirms them.
                "ALTER TABLE orders DROP CONSTRAINT orders_status_check",
                """
                ALTER TABLE orders ADD CONSTRAINT orders_status_check
                    CHECK (status IN ('placed', 'pending', 'confirmed', 'paid', 'shipped', 'cancelled', 'failed'))
                """,
                // Loyalty points: one per whole currency unit of each confirmed order.
                "ALTER TABLE users ADD COLUMN points bigint NOT NULL DEFAULT 0 CHECK (points >= 0)",
                // The transactional outbox: events written in the business transaction, published by the relay.
                """
                CREATE TABLE outbox (
                    id uuid PRIMARY KEY,
                    topic text NOT NULL CHECK (length(topic) BETWEEN 1 AND 100),
                    type text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
                    message_key text,
                    payload text NOT NULL,
                    headers jsonb NOT NULL DEFAULT '{}',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    published_at timestamptz,
                    attempts integer NOT NULL DEFAULT 0,
                    last_error text
                )
                """,
                "CREATE INDEX outbox_unpublished_idx ON outbox (created_at, id) WHERE published_at IS NULL",
                "CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL",
                // Which consumer handled which message, written with the consumer's own effects.
                """
                CREATE TABLE processed_messages (
                    consumer text NOT NULL,
                    message_id text NOT NULL,
                    processed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (consumer, message_id)
                )
                """,
                "CREATE INDEX processed_messages_processed_at_idx ON processed_messages (processed_at)",
                // Messages sent to customers (the order confirmation), one per kind and order.
                """
                CREATE TABLE sent_messages (
                    id uuid PRIMARY KEY,
                    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    order_id uuid REFERENCES orders (id) ON DELETE CASCADE,
                    kind text NOT NULL,
                    recipient text NOT NULL,
                    subject text NOT NULL,
                    body text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (kind, order_id)
                )
                """,
            ]
        ),
        Migration(
            version: 8,
            name: "payments",
            statements: [
                // One row per attempt to pay an order; at most one that is not failed.
                """
                CREATE TABLE payments (
                    id uuid PRIMARY KEY,
                    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
                    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    attempt integer NOT NULL CHECK (attempt > 0),
                    provider_payment_id text UNIQUE,
                    status text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'succeeded', 'failed')),
                    amount numeric(12, 2) NOT NULL CHECK (amount >= 0),
                    currency char(3) NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (order_id, attempt)
                )
                """,
                """
                CREATE UNIQUE INDEX payments_one_open_per_order ON payments (order_id)
                    WHERE status IN ('pending', 'processing', 'succeeded')
                """,
                // Every provider event applied (or found outdated), by the provider's event id: a replayed or
                // duplicated webhook has one effect.
                """
                CREATE TABLE payment_events (
                    event_id text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 200),
                    payment_id uuid NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
                    type text NOT NULL,
                    applied boolean NOT NULL,
                    received_at timestamptz NOT NULL DEFAULT now()
                )
                """,
            ]
        ),
        Migration(
            version: 9,
            name: "low_stock_alerts",
            statements: [
                // Set when admins were told the product is low; cleared when an admin raises its stock. The
                // post-processing of orders sets it at most once per low-stock episode, however its messages
                // interleave with later orders.
                "ALTER TABLE products ADD COLUMN low_stock_alerted boolean NOT NULL DEFAULT false"
            ]
        ),
        Migration(
            version: 10,
            name: "end_to_end_delivery",
            statements: [
                // An outbox row stays owed until its consumer's effects committed (`completed_at`, written in the
                // consumer's transaction); the relay publishes owed rows again when they stay owed too long, so an
                // event Redis lost after acknowledging it is delivered anyway. `attempts` now counts only failures
                // to publish a row that can never be published; `publish_count` counts publishes.
                "ALTER TABLE outbox ADD COLUMN completed_at timestamptz",
                "ALTER TABLE outbox ADD COLUMN publish_count integer NOT NULL DEFAULT 0",
                "UPDATE outbox SET publish_count = 1, attempts = 0 WHERE published_at IS NOT NULL",
                """
                UPDATE outbox SET completed_at = p.processed_at
                FROM processed_messages p WHERE p.message_id = outbox.id::text
                """,
                "DROP INDEX outbox_unpublished_idx",
                "DROP INDEX outbox_published_at_idx",
                "CREATE INDEX outbox_owed_idx ON outbox (created_at, id) WHERE completed_at IS NULL",
                "CREATE INDEX outbox_completed_at_idx ON outbox (completed_at) WHERE completed_at IS NOT NULL",
                // The order's post-processing marks the order itself: the marker lives as long as the order, so a
                // redelivered event — or a dead letter replayed months later — finds it and awards nothing twice.
                "ALTER TABLE orders ADD COLUMN processed_at timestamptz",
                """
                UPDATE orders SET processed_at = p.processed_at
                FROM outbox x JOIN processed_messages p
                    ON p.consumer = 'order-post-processing' AND p.message_id = x.id::text
                WHERE x.type = 'order.placed' AND (x.payload::jsonb ->> 'orderId')::uuid = orders.id
                """,
                "UPDATE orders SET processed_at = updated_at WHERE processed_at IS NULL AND status = 'confirmed'",
                // Copies of a user's points in Redis carry this version; a copy never moves backwards.
                "ALTER TABLE users ADD COLUMN points_version bigint NOT NULL DEFAULT 0",
                // The payment provider's webhooks, written before they are acknowledged (the inbox), once per event
                // id; relayed to the consumer through the outbox. `unmatched`: no payment of ours has the provider's
                // id or our reference yet; such events are queued again when the payment learns its provider id.
                """
                CREATE TABLE provider_events (
                    event_id text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 200),
                    type text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
                    provider_payment_id text NOT NULL CHECK (length(provider_payment_id) BETWEEN 1 AND 200),
                    payment_reference text CHECK (length(payment_reference) <= 200),
                    order_reference text CHECK (length(order_reference) <= 200),
                    payload text NOT NULL,
                    status text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'applied', 'outdated', 'ignored', 'unmatched')),
                    received_at timestamptz NOT NULL DEFAULT now(),
                    handled_at timestamptz
                )
                """,
                """
                CREATE INDEX provider_events_unmatched_idx ON provider_events (provider_payment_id)
                    WHERE status = 'unmatched'
                """,
            ]
        ),
    ]
}
