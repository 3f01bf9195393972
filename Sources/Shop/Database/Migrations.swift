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
    ]
}
