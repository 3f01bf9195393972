/// The console's script and style sheet, served from `/admin/assets/` (written by hand; no build step).
enum ConsoleAssets {
    /// Draws the page named by `<body data-page>` from the JSON admin API, refreshes it every 5 s, and sends the
    /// actions. Builds every element with `createElement`/`textContent`: nothing the API returns is parsed as HTML.
    static let script = #"""
        "use strict";
        (function () {
          const page = document.body.dataset.page;
          const content = () => document.getElementById("content");
          const statusLine = () => document.getElementById("status");

          function el(tag, attributes, ...children) {
            const node = document.createElement(tag);
            for (const [name, value] of Object.entries(attributes || {})) {
              if (value === null || value === undefined || value === false) continue;
              if (name === "onclick") node.addEventListener("click", value);
              else node.setAttribute(name, value === true ? "" : String(value));
            }
            for (const child of children.flat(Infinity)) {
              if (child === null || child === undefined) continue;
              node.append(child instanceof Node ? child : document.createTextNode(String(child)));
            }
            return node;
          }

          // Times in the browser's zone, UTC on hover.
          function time(iso) {
            if (!iso) return el("span", { class: "muted" }, "—");
            const date = new Date(iso);
            return el("time", { datetime: iso, title: date.toISOString().replace(".000Z", "Z") + " (UTC)" },
              date.toLocaleString());
          }
          function ago(iso) {
            const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
            const text = seconds < 120 ? seconds + " s ago" : seconds < 7200 ? Math.round(seconds / 60) + " min ago"
              : Math.round(seconds / 3600) + " h ago";
            return el("time", { datetime: iso, title: new Date(iso).toISOString().replace(".000Z", "Z") + " (UTC)" }, text);
          }
          // A number with its unit, singular for one ("1 entry", "2 entries").
          function count(value, unit, plural) {
            if (value === null || value === undefined) return el("span", { class: "muted" }, "unknown");
            const number = Number(value);
            const word = !unit ? "" : " " + (number === 1 ? unit : (plural || unit + "s"));
            return number.toLocaleString() + word;
          }
          const roleNames = { scheduler: "scheduler", queueConsumers: "queue consumers", outboxRelay: "outbox relay" };
          function badge(text, kind) { return el("span", { class: "badge " + kind }, text); }
          function table(headers, rows, empty) {
            if (rows.length === 0) return el("p", { class: "empty" }, empty);
            return el("div", { class: "scroll" }, el("table", {},
              el("thead", {}, el("tr", {}, headers.map((header) => el("th", { scope: "col" }, header)))),
              el("tbody", {}, rows)));
          }

          async function api(method, path) {
            const response = await fetch(path, {
              method, credentials: "same-origin", headers: { "Accept": "application/json" },
            });
            if (response.status === 401 || response.status === 403) { location.reload(); throw new Error("signed out"); }
            const body = await response.json().catch(() => ({}));
            if (!response.ok) throw new Error(body.detail || body.title || ("HTTP " + response.status));
            return body;
          }

          function say(text, kind) {
            const line = statusLine();
            if (!line) return;
            line.textContent = text;
            line.className = "status " + (kind || "");
          }

          // Charts: inline SVG drawn here, one line per figure, the minutes along the bottom in the browser's zone.
          const SVG = "http://www.w3.org/2000/svg";
          function svg(tag, attributes, ...children) {
            const node = document.createElementNS(SVG, tag);
            for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
            for (const child of children.flat(Infinity)) {
              if (child === null || child === undefined) continue;
              node.append(child instanceof Node ? child : document.createTextNode(String(child)));
            }
            return node;
          }
          function roundUp(value) {
            if (!(value > 0)) return 1;
            const power = Math.pow(10, Math.floor(Math.log10(value)));
            for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
            return 10 * power;
          }
          // A cache hit ratio (0–1, or null without reads) as a percentage.
          function hitRatio(value) {
            return value === null || value === undefined ? el("span", { class: "muted" }, "no reads yet")
              : (value * 100).toFixed(1) + " %";
          }
          function figure(value, digits) {
            return value === null || value === undefined ? "—" : Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
          }
          function chart(id, title, unit, minutes, lines, fixedMax) {
            const width = 560, height = 150, left = 46, right = 10, top = 10, bottom = 26;
            const values = lines.flatMap((line) => line.values).filter((value) => value !== null && value !== undefined);
            const max = fixedMax || roundUp(Math.max(0, ...values));
            const count = minutes.length;
            const x = (index) => left + (count <= 1 ? 0 : index * (width - left - right) / (count - 1));
            const y = (value) => top + (height - top - bottom) * (1 - Math.min(value, max) / max);
            const grid = [0, max / 2, max].map((value) => [
              svg("line", { class: "grid", x1: left, x2: width - right, y1: y(value), y2: y(value) }),
              svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, figure(value, 2)),
            ]);
            const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
            const ticks = count === 0 ? [] : [0, Math.floor((count - 1) / 2), count - 1].map((index) =>
              svg("text", { x: x(index), y: height - 8, "text-anchor": index === 0 ? "start" : index === count - 1 ? "end" : "middle" },
                clock(minutes[index].start)));
            const paths = lines.map((line) => {
              let d = "", pen = "M";
              line.values.forEach((value, index) => {
                if (value === null || value === undefined) { pen = "M"; return; }
                d += pen + x(index).toFixed(1) + " " + y(value).toFixed(1) + " ";
                pen = "L";
              });
              const known = line.values.filter((value) => value !== null && value !== undefined);
              return svg("path", { class: "series " + line.kind, d: d.trim(), "data-points": known.length,
                "data-max": Math.max(0, ...known) });
            });
            const lastIndex = (line) => { for (let i = line.values.length - 1; i >= 0; i--) if (line.values[i] !== null) return i; return -1; };
            const latest = (line) => lastIndex(line) < 0 ? null : line.values[lastIndex(line)];
            // The newest point of each line as a dot: a figure known for one minute only is not an invisible line.
            const dots = lines.filter((line) => lastIndex(line) >= 0).map((line) =>
              svg("circle", { class: "dot " + line.kind, cx: x(lastIndex(line)), cy: y(latest(line)), r: 3 }));
            const summary = lines.map((line) => line.name + " " + figure(latest(line), 2) + " " + unit).join(", ");
            const from = count ? new Date(minutes[0].start).toISOString().slice(0, 16) + "Z" : "";
            return el("figure", { class: "chart", id },
              el("figcaption", {}, title, " ", el("span", { class: "muted" }, "(" + unit + ")")),
              svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": title + " now: " + summary },
                svg("title", {}, title + ", per minute since " + from + " (UTC)"), grid, ticks, paths, dots),
              el("ul", { class: "legend" }, lines.map((line) =>
                el("li", {}, el("span", { class: "swatch " + line.kind }), line.name + ": ",
                  el("strong", {}, figure(latest(line), 2)), " " + unit + " now"))));
          }
          function dashboard(snapshot) {
            const minutes = snapshot.minutes;
            // Absent figures (no requests: no latency; no reads: no hit ratio) are gaps in the line.
            const pick = (name) => minutes.map((minute) => minute[name] ?? null);
            const instances = Math.max(0, ...minutes.map((minute) => minute.instances));
            const active = minutes.some((minute) => minute.requests || minute.ordersPlaced || minute.queueHandled);
            const lastMinute = minutes[minutes.length - 1];
            return el("div", {},
              el("p", {}, "The fleet's last ", count(minutes.length, "minute"), ", per minute, from ", count(instances, "instance"),
                " · updated ", el("time", { datetime: new Date().toISOString(), title: new Date().toISOString() + " (UTC)" }, new Date().toLocaleTimeString()),
                " · each instance writes its figures every ", count(snapshot.writeIntervalMilliseconds / 1000, "second"),
                ", so the current minute (since ", lastMinute ? time(lastMinute.start) : "—", ") is still filling."),
              active ? null : el("p", { class: "empty" }, "Nothing has happened in this window yet: figures appear once instances answer requests, take orders or handle messages."),
              el("div", { class: "charts" },
                chart("chart-orders", "Orders placed", "orders/min", minutes, [{ name: "placed", kind: "a", values: pick("ordersPlaced") }]),
                chart("chart-queue", "Queue throughput", "messages/min", minutes, [
                  { name: "handled", kind: "a", values: pick("queueHandled") },
                  { name: "failed", kind: "b", values: pick("queueFailed") },
                  { name: "dead-lettered", kind: "c", values: pick("deadLettered") }]),
                chart("chart-cache", "Catalog cache hit ratio", "%", minutes, [
                  { name: "hit ratio", kind: "a", values: pick("cacheHitRatio").map((ratio) => ratio === null ? null : ratio * 100) }], 100),
                chart("chart-latency", "HTTP latency", "ms", minutes, [
                  { name: "p50", kind: "a", values: pick("p50Milliseconds") },
                  { name: "p99", kind: "b", values: pick("p99Milliseconds") }]),
                chart("chart-requests", "HTTP requests", "requests/min", minutes, [
                  { name: "all", kind: "a", values: pick("requests") },
                  { name: "5xx", kind: "b", values: pick("serverErrors") }])));
          }
          // The Caches page's fleet figures over the last hour, per namespace, from the dashboard's minutes.
          async function cacheHistory(known) {
            const minutes = (await api("GET", "/api/v1/admin/dashboard?minutes=60")).data.minutes;
            const names = [...new Set([...known, ...minutes.flatMap((minute) => minute.cacheNamespaces.map((entry) => entry.namespace))])].sort();
            const kinds = ["a", "b", "c"];
            const of = (minute, name) => minute.cacheNamespaces.find((entry) => entry.namespace === name);
            const sum = (field) => minutes.map((minute) => minute.cacheNamespaces.reduce((total, entry) => total + entry[field], 0));
            const total = (field) => minutes.reduce((all, minute) => all + minute[field], 0);
            const totals = names.map((name) => {
              const counts = { namespace: name, hits: 0, misses: 0, waits: 0, errors: 0, bypassed: 0 };
              for (const minute of minutes) {
                const entry = of(minute, name);
                if (entry) for (const field of ["hits", "misses", "waits", "errors", "bypassed"]) counts[field] += entry[field];
              }
              return counts;
            });
            const ratio = (counts) => hitRatio(counts.hits + counts.misses === 0 ? null : counts.hits / (counts.hits + counts.misses));
            return el("section", { "aria-labelledby": "cache-fleet" },
              el("h2", { id: "cache-fleet" }, "The fleet, last hour"),
              el("p", {}, "Per minute, every instance added up. Breaker: opened ", count(total("cacheBreakerOpenings"), "time"),
                ", open for about ", count(total("cacheBreakerOpenSeconds"), "instance-second"), " (sampled at each instance's writes)."),
              el("div", { class: "charts" },
                chart("chart-cache-namespaces", "Hit ratio per namespace", "%", minutes, names.map((name, index) => ({
                  name, kind: kinds[index % kinds.length],
                  values: minutes.map((minute) => { const entry = of(minute, name); return entry && entry.hitRatio !== null ? entry.hitRatio * 100 : null; }),
                })), 100),
                chart("chart-cache-trouble", "Stampede waits, Redis errors and bypassed reads", "reads/min", minutes, [
                  { name: "waits", kind: "a", values: sum("waits") },
                  { name: "errors", kind: "b", values: sum("errors") },
                  { name: "bypassed", kind: "c", values: sum("bypassed") }])),
              table(["Namespace", "Hit ratio", "Hits", "Misses", "Waits", "Errors", "Bypassed"],
                totals.map((counts) => el("tr", { "data-fleet-namespace": counts.namespace },
                  el("th", { scope: "row" }, counts.namespace),
                  el("td", {}, ratio(counts)),
                  el("td", {}, count(counts.hits, "hit")),
                  el("td", {}, count(counts.misses, "miss", "misses")),
                  el("td", {}, count(counts.waits, "wait")),
                  el("td", {}, count(counts.errors, "error")),
                  el("td", {}, count(counts.bypassed, "read")))),
                "No cache reads in the last hour."));
          }

          // The dashboard is pushed (server-sent events), not polled.
          function startDashboard() {
            const source = new EventSource("/api/v1/admin/dashboard/stream?minutes=60");
            source.addEventListener("snapshot", (event) => {
              content().replaceChildren(dashboard(JSON.parse(event.data)));
              say("", "");
              document.body.dataset.loaded = "true";
            });
            source.addEventListener("unavailable", () => say("Redis does not answer: the charts show the last figures read.", "bad"));
            source.addEventListener("error", () => {
              // Closed for good (the session ended: the reconnect was refused): show the sign-in page.
              if (source.readyState === EventSource.CLOSED) { location.reload(); return; }
              say("Live updates interrupted; reconnecting…", "bad");
            });
          }

          // Evict one key of a namespace (the Caches page).
          let evictDraft = { namespace: "products", key: "" };
          function evictForm(namespaces) {
            const select = el("select", { id: "evict-namespace", name: "namespace" },
              namespaces.map((name) => el("option", { value: name, selected: name === evictDraft.namespace }, name)));
            const input = el("input", { id: "evict-key", name: "key", required: true, value: evictDraft.key,
              placeholder: "a product id", autocomplete: "off" });
            select.addEventListener("change", () => { evictDraft.namespace = select.value; });
            input.addEventListener("input", () => { evictDraft.key = input.value; });
            const form = el("form", { id: "evict", class: "inline" },
              el("label", { for: "evict-key" }, "Evict one key of"), select, input, el("button", { type: "submit" }, "Evict"));
            form.addEventListener("submit", (event) => {
              event.preventDefault();
              const key = evictDraft.key.trim();
              if (!key) return;
              evictDraft.key = "";
              input.blur();
              sendJSON("POST", "/api/v1/admin/cache/" + encodeURIComponent(evictDraft.namespace) + "/evict", { key },
                "Evicted " + key + " from " + evictDraft.namespace + ".");
            });
            return form;
          }
          async function sendJSON(method, path, body, done) {
            try {
              const response = await fetch(path, {
                method, credentials: "same-origin",
                headers: { "Content-Type": "application/json", "Accept": "application/json" },
                body: JSON.stringify(body),
              });
              const answer = await response.json().catch(() => ({}));
              if (!response.ok) throw new Error(answer.detail || answer.title || ("HTTP " + response.status));
              say(done + (answer.data && answer.data.outcome === "deferred" ? " (deferred: Redis did not answer)" : ""), "ok");
            } catch (error) {
              say(error.message, "bad");
            }
            await refresh();
          }

          const renderers = {
            async instances() {
              const body = await api("GET", "/api/v1/admin/instances");
              const roles = (instance) => Object.entries(instance.roles).filter(([, on]) => on).map(([name]) => roleNames[name] || name)
                .join(", ") || "HTTP only";
              return table(
                ["Instance", "Status", "Runs", "Redis", "Version", "Host", "Started", "Last heartbeat"],
                body.data.map((instance) => el("tr", {},
                  el("th", { scope: "row" }, instance.id, instance.id === body.meta.instance ? " (this one)" : ""),
                  el("td", {}, badge(instance.status, instance.status === "live" ? "ok" : "bad")),
                  el("td", {}, roles(instance)),
                  el("td", {}, instance.redisMode),
                  el("td", {}, instance.version),
                  el("td", {}, instance.host + " pid " + instance.pid + (instance.httpPort ? " :" + instance.httpPort : "")),
                  el("td", {}, time(instance.startedAt)),
                  el("td", {}, ago(instance.lastHeartbeatAt)))),
                "No instance has written a heartbeat yet. Start one with make run.");
            },

            async jobs() {
              const body = await api("GET", "/api/v1/admin/jobs");
              const runs = (job) => job.lastRuns.length === 0 ? el("span", { class: "muted" }, "no runs yet")
                : el("ul", { class: "runs" }, job.lastRuns.slice(0, 5).map((run) => el("li", {},
                  badge(run.outcome || "running", run.outcome === "succeeded" ? "ok" : run.outcome ? "bad" : "info"),
                  " ", time(run.startedAt), " on ", run.instance, run.manual ? " (manual)" : "",
                  run.error ? el("span", { class: "error" }, " — " + run.error) : null)));
              const header = body.meta.schedulerRunning ? null
                : el("p", { class: "note" }, "This instance does not run the scheduler (JOBS_ENABLED=false): Run now answers 503 here.");
              return el("div", {}, header, table(
                ["Job", "Schedule", "Next run", "Running now", "Last runs", ""],
                body.data.map((job) => el("tr", { "data-job": job.name },
                  el("th", { scope: "row" }, job.name, job.paused ? [" ", badge("paused", "bad"),
                    el("div", { class: "muted" }, "by " + job.paused.by + " ", ago(job.paused.at))] : null),
                  el("td", {}, job.schedule),
                  el("td", {}, time(job.nextRunAt)),
                  el("td", {}, job.running ? ["on " + job.running.instance + " since ", time(job.running.startedAt)]
                    : el("span", { class: "muted" }, "no")),
                  el("td", {}, runs(job)),
                  el("td", {}, el("button", {
                    type: "button", class: "run", "data-job": job.name,
                    onclick: () => act("POST", "/api/v1/admin/jobs/" + encodeURIComponent(job.name) + "/run",
                      "Started " + job.name + "."),
                  }, "Run now"), " ", job.paused
                    ? el("button", {
                      type: "button", class: "resume secondary", "data-job": job.name,
                      onclick: () => act("POST", "/api/v1/admin/jobs/" + encodeURIComponent(job.name) + "/resume",
                        "Resumed " + job.name + " on every instance."),
                    }, "Resume")
                    : el("button", {
                      type: "button", class: "pause secondary", "data-job": job.name,
                      onclick: () => {
                        if (!confirm("Pause " + job.name + " on every instance? Its ticks are skipped until you resume it.")) return;
                        act("POST", "/api/v1/admin/jobs/" + encodeURIComponent(job.name) + "/pause",
                          "Paused " + job.name + " on every instance.");
                      },
                    }, "Pause")))),
                "No jobs are registered."));
            },

            async queues() {
              const body = await api("GET", "/api/v1/admin/queues");
              const sections = [el("div", { id: "message-lookup-area" },
                await messageHistoryLookup(body.data.map((topic) => topic.topic)))];
              for (const topic of body.data) {
                const letters = await api("GET", "/api/v1/admin/queues/" + encodeURIComponent(topic.topic)
                  + "/dead-letters?limit=50");
                sections.push(el("section", { "aria-labelledby": "topic-" + topic.topic },
                  el("h2", { id: "topic-" + topic.topic }, "Topic ", el("code", {}, topic.topic)),
                  el("p", {}, count(topic.length, "entry", "entries"), " · ", count(topic.delayed, "delayed", "delayed"), " · ",
                    count(topic.deadLetters, "dead letter")),
                  table(["Group", "Consumers", "Pending", "Lag", "Delayed", "Redeliveries"],
                    topic.groups.map((group) => el("tr", {},
                      el("th", { scope: "row" }, group.name),
                      el("td", {}, count(group.consumers)),
                      el("td", {}, count(group.pending, "message")),
                      el("td", {}, count(group.lag, "message")),
                      el("td", {}, count(group.delayed, "message")),
                      el("td", {}, count(group.redeliveries)))),
                    "No consumer group reads this topic yet."),
                  el("h3", {}, "Dead letters"),
                  topic.deadLetters > 0 ? el("p", {}, el("button", {
                    type: "button", class: "replay-all",
                    onclick: async () => {
                      if (!confirm("Replay all " + topic.deadLetters + " dead letters of " + topic.topic + "? Each goes back to its group's queue.")) return;
                      try {
                        const result = (await api("POST", "/api/v1/admin/queues/" + encodeURIComponent(topic.topic) + "/replay-dead-letters")).data;
                        say("Replayed " + count(result.replayed, "dead letter") + (result.more ? "; more are left, replay again." : "."), "ok");
                      } catch (error) {
                        say(error.message, "bad");
                      }
                      await refresh();
                    },
                  }, "Replay all")) : null,
                  table(["Id", "Group", "Reason", "Error", "Attempts", "Failed", "Message", ""],
                    letters.data.map((letter) => el("tr", { "data-dead-letter": letter.id },
                      el("th", { scope: "row" }, el("code", {}, letter.id)),
                      el("td", {}, letter.group),
                      el("td", {}, letter.reason),
                      el("td", { class: "error" }, letter.error || ""),
                      el("td", {}, count(letter.attempts)),
                      el("td", {}, time(letter.failedAt)),
                      el("td", {}, letter.payload === null ? el("span", { class: "muted" }, "unreadable")
                        : el("details", {}, el("summary", {}, letter.type || "payload"), el("pre", {}, letter.payload))),
                      el("td", {}, letter.messageId === null ? null : el("button", {
                        type: "button", class: "history secondary",
                        onclick: () => {
                          messageLookup = { topic: topic.topic, id: letter.messageId };
                          refresh();
                        },
                      }, "History"), " ", el("button", {
                        type: "button", class: "replay",
                        onclick: () => {
                          if (!confirm("Replay dead letter " + letter.id + "? It goes back to its group's queue.")) return;
                          act("POST", "/api/v1/admin/queues/" + encodeURIComponent(topic.topic) + "/dead-letters/"
                            + encodeURIComponent(letter.id) + "/replay", "Replayed " + letter.id + ".");
                        },
                      }, "Replay"), " ", el("button", {
                        type: "button", class: "delete secondary",
                        onclick: () => {
                          if (!confirm("Delete dead letter " + letter.id + " for good? Its message is not handled.")) return;
                          act("DELETE", "/api/v1/admin/queues/" + encodeURIComponent(topic.topic) + "/dead-letters/"
                            + encodeURIComponent(letter.id), "Deleted " + letter.id + ".");
                        },
                      }, "Delete")))),
                    "No dead letters: every message was handled or is still being retried.")));
              }
              return sections.length ? el("div", {}, sections) : el("p", { class: "empty" }, "No topics.");
            },

            async locks() {
              const body = await api("GET", "/api/v1/admin/locks");
              const lease = (ms) => ms === undefined || ms === null ? el("span", { class: "muted" }, "no expiry")
                : ms < 10000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms / 1000) + " s";
              return el("div", {},
                el("p", {}, "Locks held now in Redis, by any instance. Waiters are counted by each instance at its heartbeat (every ",
                  count(body.meta.waitersAsOfMs / 1000, "second"), ")."),
                table(["Lock", "Kind", "Holder", "Lease left", "Fencing token", "Waiting"],
                  body.data.map((lock) => el("tr", { "data-lock": lock.name },
                    el("th", { scope: "row" }, el("code", {}, lock.name)),
                    el("td", {}, lock.manager === "jobs" ? "scheduled job" : "orders (stock, users)"),
                    el("td", {}, lock.holder, lock.holder === body.meta.instance ? " (this one)" : ""),
                    el("td", {}, lease(lock.leaseRemainingMs)),
                    el("td", {}, lock.fencingToken === undefined ? el("span", { class: "muted" }, "—") : count(lock.fencingToken)),
                    el("td", {}, count(lock.waiters, "task")))),
                  "No lock is held right now. Locks are taken for a moment by each order (lock strategy), each order's post-processing and each job run."));
            },

            async sessions() {
              const query = sessionLookup ? "?email=" + encodeURIComponent(sessionLookup) : "";
              let body, missing = null;
              try {
                body = (await api("GET", "/api/v1/admin/sessions" + query)).data;
              } catch (error) {
                if (!sessionLookup) throw error;
                missing = error.message;
                body = (await api("GET", "/api/v1/admin/sessions")).data;
              }
              const form = el("form", { id: "session-lookup", class: "inline" },
                el("label", { for: "session-email" }, "Look up a user's sessions by e-mail"),
                el("input", { id: "session-email", name: "email", type: "email", required: true, value: sessionLookup || "",
                  autocomplete: "off" }),
                el("button", { type: "submit" }, "Look up"));
              form.addEventListener("submit", (event) => {
                event.preventDefault();
                sessionLookup = form.email.value.trim();
                refresh();
              });
              const user = body.user;
              const result = missing ? el("p", { class: "error" }, missing)
                : !user ? el("p", { class: "empty" }, "Enter an e-mail address to see that user's sessions and end one.")
                : el("section", { "aria-labelledby": "user-sessions" },
                  el("h2", { id: "user-sessions" }, user.email, " ", el("span", { class: "muted" }, "(" + user.role + ")")),
                  table(["Session", "Started", "Last seen", "Expires", "Client", ""],
                    user.sessions.map((session) => el("tr", { "data-session": session.id },
                      el("th", { scope: "row" }, el("code", {}, session.id), session.current ? " (yours)" : ""),
                      el("td", {}, time(session.createdAt)),
                      el("td", {}, ago(session.lastSeenAt)),
                      el("td", {}, time(session.expiresAt)),
                      el("td", {}, (session.userAgent || "unknown client") + (session.ipAddress ? " from " + session.ipAddress : "")),
                      el("td", {}, el("button", {
                        type: "button", class: "revoke",
                        onclick: () => {
                          if (!confirm("End session " + session.id + " of " + user.email + "? Its cookie stops working on every instance.")) return;
                          act("DELETE", "/api/v1/admin/sessions/" + encodeURIComponent(user.id) + "/" + encodeURIComponent(session.id),
                            "Revoked session " + session.id + ".");
                        },
                      }, "Revoke")))),
                    "This user has no live session."));
              return el("div", {},
                el("p", {}, el("strong", {}, count(body.active, "active session")), " across the fleet, of every user (counted in Redis now)."),
                form, result);
            },

            async caches() {
              const body = await api("GET", "/api/v1/admin/cache/stats");
              const stats = body.data;
              if (!stats.enabled) {
                return el("p", { class: "empty" }, "The catalog cache is off on this instance (CACHE_ENABLED=false): every read goes to PostgreSQL.");
              }
              const circuit = { closed: ["closed: Redis in use", "ok"], open: ["open: Redis bypassed", "bad"],
                halfOpen: ["half open: one read is probing Redis", "info"] }[stats.circuit] || [stats.circuit, "info"];
              const ratio = hitRatio;
              const row = (counts, name) => el("tr", { "data-namespace": counts.namespace },
                el("th", { scope: "row" }, name || counts.namespace),
                el("td", {}, ratio(counts.hitRatio)),
                el("td", {}, count(counts.hits, "hit")),
                el("td", {}, count(counts.misses, "miss", "misses")),
                el("td", {}, count(counts.loads, "load")),
                el("td", {}, count(counts.coalesced)),
                el("td", {}, count(counts.waits, "wait")),
                el("td", {}, count(counts.staleServes)),
                el("td", {}, count(counts.errors, "error")),
                el("td", {}, name ? null : el("button", {
                  type: "button", class: "evict-namespace secondary", "data-namespace": counts.namespace,
                  onclick: () => {
                    if (!confirm("Evict every entry of " + counts.namespace + "? Every instance reads it from PostgreSQL again.")) return;
                    act("POST", "/api/v1/admin/cache/" + encodeURIComponent(counts.namespace) + "/evict",
                      "Evicted the " + counts.namespace + " namespace.");
                  },
                }, "Evict all")));
              return el("div", {},
                await cacheHistory(stats.namespaces.map((counts) => counts.namespace)),
                el("h2", {}, "This instance"),
                el("p", {}, "Counted by ", el("strong", {}, stats.instance),
                  " since it started (each instance counts its own reads). Circuit breaker: ",
                  badge(circuit[0], circuit[1]), " · opened ", count(stats.circuitOpenings, "time"),
                  " · ", count(stats.deferredEvictions, "eviction", "evictions"), " waiting for Redis"),
                evictForm(stats.namespaces.map((counts) => counts.namespace)),
                table(["Namespace", "Hit ratio", "Hits", "Misses", "Loads", "Coalesced", "Waits", "Stale serves", "Errors", ""],
                  [...stats.namespaces.map((counts) => row(counts)), row(stats.totals, "all namespaces")],
                  "No cache namespaces."));
            },
          };

          // The e-mail the Sessions page looked up (kept across its refreshes).
          let sessionLookup = "";
          // The message whose history the Queues page shows ({ topic, id }), or null.
          let messageLookup = null;

          // The Queues page's "find a message" form and, when one was asked for, its history as a timeline.
          async function messageHistoryLookup(topics) {
            const form = el("form", { id: "message-lookup", class: "inline" },
              el("label", { for: "message-topic" }, "Show a message's history"),
              el("select", { id: "message-topic", name: "topic" }, topics.map((name) =>
                el("option", { value: name, selected: messageLookup !== null && messageLookup.topic === name }, name))),
              el("input", { id: "message-id", name: "messageId", required: true, maxlength: 256, autocomplete: "off",
                placeholder: "message id (an outbox row id)", value: messageLookup ? messageLookup.id : "" }),
              el("button", { type: "submit" }, "Show"));
            form.addEventListener("submit", (event) => {
              event.preventDefault();
              messageLookup = { topic: form.topic.value, id: form.messageId.value.trim() };
              refresh();
            });
            if (!messageLookup) return [form];
            let history;
            try {
              history = (await api("GET", "/api/v1/admin/queues/" + encodeURIComponent(messageLookup.topic) + "/messages/"
                + encodeURIComponent(messageLookup.id))).data;
            } catch (error) {
              return [form, el("p", { class: "error", id: "message-history" }, error.message)];
            }
            const where = (event) => event.entryId ? [" (entry ", el("code", {}, event.entryId),
              event.inRetryStream ? " of the retry stream)" : ")"] : [];
            const describe = (event) => {
              switch (event.kind) {
                case "failed": return ["Attempt " + event.attempt + " failed on ", el("code", {}, event.consumer), ": ",
                  el("span", { class: "error" }, event.error || ""), "; retry due ", time(event.retryAt), ...where(event)];
                case "taken-over": return ["Taken over by ", el("code", {}, event.consumer), " from ",
                  el("code", {}, event.previousConsumer || "?"), ", delivery " + event.deliveries + " (its holder crashed, stalled or handed it back at shutdown)", ...where(event)];
                case "dead-lettered": return ["Dead-lettered (" + event.reason + ") after ", count(event.attempt, "attempt"),
                  ": ", el("span", { class: "error" }, event.error || ""), "; dead letter ", el("code", {}, event.deadLetterId || "?")];
                case "replayed": return ["Replayed by an operator from dead letter ", el("code", {}, event.deadLetterId || "?"), ...where(event)];
                case "handled": return ["Handled on attempt " + event.attempt + " by ", el("code", {}, event.consumer), ...where(event)];
                case "deleted": return ["Dead letter ", el("code", {}, event.deadLetterId || "?"), " deleted by an operator"];
                default: return [event.kind];
              }
            };
            const state = (group) => group.state === "pending"
              ? ["delivered to ", el("code", {}, group.consumer), ", " + count(group.deliveries, "delivery", "deliveries")
                + ", idle " + (group.idleMs / 1000).toFixed(1) + " s (not acknowledged yet)"]
              : group.state === "acknowledged" ? ["read and acknowledged (handled, or moved to its retries or dead letters: see below), or skipped by a group created after it"]
              : ["not read yet"];
            return [form, el("section", { id: "message-history", "aria-labelledby": "message-history-title" },
              el("h2", { id: "message-history-title" }, "Message ", el("code", {}, history.messageId), " in ",
                el("code", {}, history.topic)),
              el("p", {}, history.entryId
                ? ["Published as entry ", el("code", {}, history.entryId),
                  history.publishedAt ? [" at ", time(history.publishedAt)] : "",
                  history.type ? [", type ", el("code", {}, history.type)] : " (the entry has left the stream)"]
                : "Its published entry is not known any more (the publish marker expired)."),
              history.payload === null ? null : el("details", {}, el("summary", {}, "Payload"), el("pre", {}, history.payload)),
              history.groups.length ? el("ul", { class: "groups" }, history.groups.map((group) =>
                el("li", { "data-group": group.group }, el("strong", {}, group.group), ": ", ...state(group)))) : null,
              el("h3", {}, "Events"),
              history.events.length ? el("ol", { class: "timeline" }, history.events.map((event) =>
                el("li", { "data-event": event.kind }, time(event.at), " · ", el("strong", {}, event.group), " · ", ...describe(event))))
                : el("p", { class: "empty" }, "No failure, takeover or replay was recorded: each group handled it on its first delivery, or has not yet."),
              el("p", {}, el("button", { type: "button", class: "secondary", onclick: () => { messageLookup = null; refresh(); } }, "Close"))),
            ];
          }
          // Pages with a form are drawn again after an action or a look-up, not every 5 s (that would reset what is
          // being typed).
          const manualPages = new Set(["sessions"]);
          let refreshing = false;
          async function refresh(fromTimer) {
            const render = renderers[page];
            if (!render || refreshing) return;
            // The timer does not redraw while something on the page is being typed into or chosen (it would be drawn
            // again under the user); a look-up or an action does.
            const focused = document.activeElement;
            if (fromTimer && focused && content().contains(focused) && focused.matches("input, select")) return;
            refreshing = true;
            try {
              const node = await render();
              // Keep open <details> open across refreshes.
              const open = new Set([...content().querySelectorAll("details[open]")].map((d) => d.closest("tr")?.dataset.deadLetter));
              content().replaceChildren(node);
              for (const row of content().querySelectorAll("tr[data-dead-letter]")) {
                if (open.has(row.dataset.deadLetter)) row.querySelector("details")?.setAttribute("open", "");
              }
              document.body.dataset.loaded = "true";
            } catch (error) {
              if (error.message !== "signed out") say("Could not load: " + error.message, "bad");
            } finally {
              refreshing = false;
            }
          }

          async function act(method, path, done) {
            try {
              await api(method, path);
              say(done, "ok");
            } catch (error) {
              say(error.message, "bad");
            }
            await refresh();
          }

          async function signIn(event) {
            event.preventDefault();
            const form = event.target;
            const error = document.getElementById("sign-in-error");
            const response = await fetch("/api/v1/auth/login", {
              method: "POST", credentials: "same-origin",
              headers: { "Content-Type": "application/json", "Accept": "application/json" },
              body: JSON.stringify({ email: form.email.value, password: form.password.value }),
            });
            if (response.ok) { location.reload(); return; }
            const body = await response.json().catch(() => ({}));
            error.textContent = body.detail || "Sign-in failed (HTTP " + response.status + ").";
            error.hidden = false;
          }

          async function signOut() {
            await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
            location.assign("/admin");
          }

          document.addEventListener("DOMContentLoaded", () => {
            document.getElementById("sign-in")?.addEventListener("submit", signIn);
            document.getElementById("sign-out")?.addEventListener("click", signOut);
            if (page === "unavailable") { setTimeout(() => location.reload(), 5000); return; }
            if (page === "dashboard") { startDashboard(); return; }
            if (renderers[page]) {
              refresh();
              if (!manualPages.has(page)) setInterval(() => refresh(true), 5000);
            }
          });
        })();
        """#

    static let style = #"""
        :root { color-scheme: light dark; --fg: #1d232a; --bg: #fbfbfc; --muted: #5d6875; --line: #d5dae0;
          --accent: #2357c6; --ok: #1d7a3a; --bad: #b3261e; --info: #6b4fbb; }
        @media (prefers-color-scheme: dark) {
          :root { --fg: #e6e9ed; --bg: #15181c; --muted: #9aa5b1; --line: #353b43; --accent: #8fb0ff;
            --ok: #6fcf8d; --bad: #ff8a80; --info: #c3b0ff; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        a { color: var(--accent); }
        :focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
        .bar { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .6rem 1rem;
          border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
        nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
        nav a[aria-current="page"] { font-weight: 700; text-decoration: none; color: var(--fg); }
        .who { margin-left: auto; color: var(--muted); }
        main { padding: 1rem; max-width: 1400px; }
        main.narrow { max-width: 28rem; margin: 3rem auto; }
        h1 { font-size: 1.4rem; margin: .2rem 0 .8rem; }
        h2 { font-size: 1.15rem; margin: 1.5rem 0 .3rem; }
        h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
        .stack { display: grid; gap: .4rem; }
        input { font: inherit; padding: .45rem .5rem; border: 1px solid var(--line); border-radius: 4px;
          background: transparent; color: inherit; }
        button { font: inherit; padding: .35rem .8rem; border: 1px solid var(--accent); border-radius: 4px;
          background: var(--accent); color: var(--bg); cursor: pointer; }
        .who button { background: transparent; color: var(--accent); }
        button.secondary { background: transparent; color: var(--accent); }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
        thead th { font-size: .85rem; color: var(--muted); font-weight: 600; white-space: nowrap; }
        .badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; font-weight: 600;
          border: 1px solid currentColor; }
        .ok { color: var(--ok); } .bad { color: var(--bad); } .info { color: var(--info); }
        .muted, .empty { color: var(--muted); }
        .error { color: var(--bad); }
        .note { padding: .5rem .7rem; border-left: 3px solid var(--info); }
        .status:empty { display: none; }
        .runs { margin: 0; padding-left: 1rem; }
        pre { white-space: pre-wrap; word-break: break-all; max-width: 40rem; margin: .3rem 0; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 26rem), 1fr)); gap: 1rem 1.5rem; }
        .chart { margin: 0; min-width: 0; }
        .chart figcaption { font-weight: 600; margin-bottom: .2rem; }
        .chart svg { width: 100%; height: auto; display: block; }
        .chart .grid { stroke: var(--line); stroke-width: 1; }
        .chart text { fill: var(--muted); font-size: 11px; }
        .chart .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
        .series.a { stroke: var(--accent); } .series.b { stroke: var(--bad); } .series.c { stroke: var(--info); }
        .dot.a { fill: var(--accent); } .dot.b { fill: var(--bad); } .dot.c { fill: var(--info); }
        .legend { display: flex; flex-wrap: wrap; gap: .2rem 1rem; list-style: none; margin: .2rem 0 0; padding: 0;
          font-size: .9rem; }
        .swatch { display: inline-block; width: .8rem; height: .25rem; margin-right: .35rem; vertical-align: middle; }
        .swatch.a { background: var(--accent); } .swatch.b { background: var(--bad); } .swatch.c { background: var(--info); }
        .inline { display: flex; flex-wrap: wrap; gap: .4rem .6rem; align-items: center; margin: .6rem 0 1rem; }
        .inline input { min-width: min(100%, 18rem); }
        select { font: inherit; padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 4px;
          background: transparent; color: inherit; }
        .timeline { padding-left: 1.4rem; } .timeline li { margin: .25rem 0; overflow-wrap: anywhere; }
        #message-history { border-left: 3px solid var(--info); padding-left: .8rem; margin-bottom: 1.5rem; }
        @media (max-width: 640px) {
          .who { margin-left: 0; width: 100%; }
          th, td { padding: .35rem .4rem; }
        }
        """#
}
