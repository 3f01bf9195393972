import RedisClient

/// The queue's Lua scripts. Each touches only keys of one topic (one hash tag), declared in `KEYS`. Times come
/// from the Redis server (`TIME`), so instances with skewed clocks agree on when a retry is due.
enum QueueScripts {
    /// Publishes unless the message id was published within the window.
    /// KEYS: stream, marker. ARGV: window ms, trim kind (`MAXLEN`, `MINID` or `-`), trim value, fields...
    /// Returns `{1, entry id}` when added, `{0, first entry id}` for a duplicate.
    static let publishOnce = RedisScript(
        """
        local existing = redis.call('GET', KEYS[2])
        if existing then return {0, existing} end
        local id
        if ARGV[2] == '-' then
          id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
        else
          id = redis.call('XADD', KEYS[1], ARGV[2], '~', ARGV[3], '*', unpack(ARGV, 4))
        end
        redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
        return {1, id}
        """
    )

    /// Appends an event (a Lua table, JSON-encoded) to a message's history list, keeping the newest `limit`
    /// events for `ttl` ms after the last one; a limit of 0 records nothing. Prepended to the scripts that record,
    /// and called after their change: `pcall`, so a history that cannot be written (a key of another type) never
    /// turns a change that was made into an error reply.
    static let recordFunction = """
        local function record(key, limit, ttl, event)
          limit = tonumber(limit)
          if limit <= 0 then return end
          redis.pcall('RPUSH', key, cjson.encode(event))
          redis.pcall('LTRIM', key, -limit, -1)
          redis.pcall('PEXPIRE', key, ttl)
        end
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        """

    /// Acknowledges an entry of a retry stream and deletes it (retry streams hold only live redeliveries), and
    /// records in the message's history that it was handled.
    /// KEYS: stream, history. ARGV: group, entry id, history limit, history ttl ms, consumer, attempt.
    /// Returns how many were acknowledged.
    static let ackAndDelete = RedisScript(
        recordFunction + """
            local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
            redis.call('XDEL', KEYS[1], ARGV[2])
            if n == 1 then
              record(KEYS[2], ARGV[3], ARGV[4],
                {e = 'handled', t = now_ms(), g = ARGV[1], c = ARGV[5], a = tonumber(ARGV[6]), n = ARGV[2], s = 1})
            end
            return n
            """
    )

    /// Moves a failed delivery to the group's delayed set, if the caller still owns it, and records the failure
    /// in the message's history.
    /// KEYS: stream, delayed, history. ARGV: group, consumer, entry id, delay ms, delete entry (1/0), history
    /// limit, history ttl ms, failed attempt, error, fields...
    /// Returns 1 when scheduled, 0 when the delivery was no longer the caller's.
    static let scheduleRetry = RedisScript(
        recordFunction + """
            local owner = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
            if #owner == 0 or owner[1][2] ~= ARGV[2] then return 0 end
            redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
            if ARGV[5] == '1' then redis.call('XDEL', KEYS[1], ARGV[3]) end
            local now = now_ms()
            local due = now + tonumber(ARGV[4])
            redis.call('ZADD', KEYS[2], due, cmsgpack.pack({unpack(ARGV, 10)}))
            record(KEYS[3], ARGV[6], ARGV[7], {e = 'failed', t = now, g = ARGV[1], c = ARGV[2],
              a = tonumber(ARGV[8]), x = ARGV[9], r = due, n = ARGV[3], s = tonumber(ARGV[5])})
            return 1
            """
    )

    /// Moves a delivery to the dead letters, if the caller still owns it, and records it in the message's history.
    /// KEYS: stream, dead, history. ARGV: group, consumer, entry id, delete entry (1/0), dead max length, history
    /// limit, history ttl ms, reason, error, attempts, fields...
    /// Returns 1 when moved, 0 when the delivery was no longer the caller's.
    static let deadLetter = RedisScript(
        recordFunction + """
            local owner = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
            if #owner == 0 or owner[1][2] ~= ARGV[2] then return 0 end
            redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
            if ARGV[4] == '1' then redis.call('XDEL', KEYS[1], ARGV[3]) end
            local now = now_ms()
            local dead = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'dl:failed_at', now, unpack(ARGV, 11))
            record(KEYS[3], ARGV[6], ARGV[7], {e = 'dead-lettered', t = now, g = ARGV[1], c = ARGV[2], w = ARGV[8],
              x = ARGV[9], a = tonumber(ARGV[10]), d = dead, n = ARGV[3], s = tonumber(ARGV[4])})
            return 1
            """
    )

    /// Moves due retries from the delayed set into the group's retry stream.
    /// KEYS: delayed, retry stream. ARGV: limit.
    /// Returns `{moved, ms until the next is due or -1}`.
    static let promote = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
        for _, member in ipairs(due) do
          redis.call('XADD', KEYS[2], '*', unpack(cmsgpack.unpack(member)))
          redis.call('ZREM', KEYS[1], member)
        end
        local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        local wait = -1
        if head[2] then wait = math.max(0, tonumber(head[2]) - now) end
        return {#due, wait}
        """
    )

    /// Takes over deliveries that other consumers left idle longer than the visibility timeout. Deliveries
    /// already delivered the allowed number of times go to the dead letters instead (their consumers crashed or
    /// stalled: a message that keeps killing consumers ends there); deliveries whose entry was trimmed away are
    /// acknowledged. The caller's own idle deliveries are only reported (it decides whether it still holds them).
    ///
    /// `XPENDING ... IDLE` plus `XCLAIM` rather than `XAUTOCLAIM`: the delivery count is checked before a claim
    /// counts another delivery, and the caller's own deliveries are never claimed by accident.
    ///
    /// The script cannot name a message's history key in advance (it learns the message ids as it goes), so it
    /// returns the history events of the takeovers and dead letters for the caller to record.
    /// KEYS: stream, dead. ARGV: group, consumer, min idle ms, start (`-` or `(id`), count, max deliveries,
    /// delete entry (1/0), dead max length, error text.
    /// Returns `{next start or '-', {{id, fields, deliveries}...}, dead-lettered, trimmed, {own ids...},
    /// {{message id, event JSON}...}}`.
    static let reclaim = RedisScript(
        """
        local rows = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[4], '+', ARGV[5])
        local claimed, own, dead, gone, events = {}, {}, 0, 0, {}
        local function message_id(fields)
          for i = 1, #fields, 2 do
            if fields[i] == 'id' then return fields[i + 1] end
          end
          return nil
        end
        local limit = tonumber(ARGV[6])
        local last = nil
        for _, row in ipairs(rows) do
          local id, owner, deliveries = row[1], row[2], tonumber(row[4])
          last = id
          if owner == ARGV[2] then
            own[#own + 1] = id
          else
            local entry = redis.call('XRANGE', KEYS[1], id, id)
            if #entry == 0 then
              redis.call('XACK', KEYS[1], ARGV[1], id)
              gone = gone + 1
            elseif deliveries >= limit then
              local fields = entry[1][2]
              redis.call('XACK', KEYS[1], ARGV[1], id)
              if ARGV[7] == '1' then redis.call('XDEL', KEYS[1], id) end
              local t = redis.call('TIME')
              local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
              local attempt = '1'
              for i = 1, #fields, 2 do
                if fields[i] == 'attempt' then attempt = fields[i + 1] end
              end
              local d = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'dl:failed_at', now, 'dl:group',
                ARGV[1], 'dl:reason', 'delivery-limit', 'dl:error', ARGV[9], 'dl:entry', id, 'dl:attempts', attempt,
                'dl:deliveries', deliveries, unpack(fields))
              dead = dead + 1
              local m = message_id(fields)
              if m and m ~= '' then
                events[#events + 1] = {m, cjson.encode({e = 'dead-lettered', t = now, g = ARGV[1], c = owner,
                  w = 'delivery-limit', x = ARGV[9], a = tonumber(attempt), k = deliveries, d = d, n = id,
                  s = tonumber(ARGV[7])})}
              end
            else
              local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], id)
              if #c > 0 and c[1][2] then
                claimed[#claimed + 1] = {id, c[1][2], deliveries + 1}
                local m = message_id(c[1][2])
                if m and m ~= '' then
                  local t = redis.call('TIME')
                  events[#events + 1] = {m, cjson.encode({e = 'taken-over', t = tonumber(t[1]) * 1000
                    + math.floor(tonumber(t[2]) / 1000), g = ARGV[1], c = ARGV[2], p = owner, k = deliveries + 1,
                    n = id, s = tonumber(ARGV[7])})}
                end
              end
            end
          end
        end
        local nextStart = '-'
        if last and #rows >= tonumber(ARGV[5]) then nextStart = '(' .. last end
        return {nextStart, claimed, dead, gone, own, events}
        """
    )

    /// Renews deliveries the caller still owns (`XCLAIM ... IDLE ms JUSTID`, which does not count a delivery):
    /// idle 0 is a heartbeat; idle = the visibility timeout hands them back for others to take at once.
    /// KEYS: stream. ARGV: group, consumer, idle ms, ids... Returns the ids the caller no longer owns.
    static let touch = RedisScript(
        """
        local lost = {}
        for i = 4, #ARGV do
          local id = ARGV[i]
          local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
          if p[1] and p[1][2] == ARGV[2] then
            redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[3], 'JUSTID')
          else
            lost[#lost + 1] = id
          end
        end
        return lost
        """
    )

    /// Puts a dead letter back into its group's retry stream with the attempt count reset, removes it, and
    /// records the replay in the message's history.
    /// KEYS: dead, retry stream, history. ARGV: dead letter id, group, history limit, history ttl ms.
    /// Returns the new entry id, or nil when not found.
    static let replay = RedisScript(
        recordFunction + """
            local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
            if #e == 0 then return false end
            local fields, out, group = e[1][2], {}, nil
            for i = 1, #fields, 2 do
              local f, v = fields[i], fields[i + 1]
              if f == 'dl:group' then
                group = v
              elseif string.sub(f, 1, 3) ~= 'dl:' and f ~= 'error' then
                if f == 'attempt' then v = '1' end
                out[#out + 1] = f
                out[#out + 1] = v
              end
            end
            if group ~= ARGV[2] then return redis.error_reply('QUEUEGROUP the dead letter belongs to another group') end
            redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
            local id = redis.call('XADD', KEYS[2], '*', unpack(out))
            redis.call('XDEL', KEYS[1], ARGV[1])
            record(KEYS[3], ARGV[3], ARGV[4], {e = 'replayed', t = now_ms(), g = group, d = ARGV[1], n = id, s = 1})
            return id
            """
    )

    /// Deletes a dead letter and records that in the message's history.
    /// KEYS: dead, history. ARGV: dead letter id, group, history limit, history ttl ms. Returns 1 when deleted.
    static let deleteDeadLetter = RedisScript(
        recordFunction + """
            local n = redis.call('XDEL', KEYS[1], ARGV[1])
            if n == 1 then record(KEYS[2], ARGV[3], ARGV[4], {e = 'deleted', t = now_ms(), g = ARGV[2], d = ARGV[1]}) end
            return n
            """
    )

    /// Removes the caller from the group if it has nothing pending. KEYS: stream. ARGV: group, consumer.
    static let leaveGroup = RedisScript(
        """
        local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
        if #p > 0 then return 0 end
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
        return 1
        """
    )

    /// Takes or renews the lease of an exclusive group's active consumer. KEYS: lease. ARGV: owner, lease ms.
    /// Returns 1 when the caller holds it afterwards.
    static let holdLease = RedisScript(
        """
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        if holder then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """
    )

    /// Gives the lease up if the caller holds it. KEYS: lease. ARGV: owner.
    static let dropLease = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """
    )
}
