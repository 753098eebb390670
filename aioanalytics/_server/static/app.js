// The aioanalytics collector's debugger page: plain JavaScript, no build step.
// It reads the JSON query API (/api/events, /api/counts, /api/config) and listens to
// /api/stream (server-sent events) so new messages appear without a reload, newest first.
// Every value from a message is put on the page as text, never as markup.
"use strict";

(() => {
  const MAX_ROWS = 300;
  const RATE_WINDOW_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const state = {
    filter: { type: "", event: "", user: "" },
    events: [],          // what the table shows, newest first
    recent: [],          // the last events the stream brought, whatever the filter
    matching: 0,         // how many stored events match the filter
    selectedId: null,
    arrivals: [],        // [time, count] of what the stream brought or said it skipped
    loadSeq: 0,
  };

  // ---------------------------------------------------------------- formatting

  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso || "";
    const pad = (n, width = 2) => String(n).padStart(width, "0");
    return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function label(event) {
    if (event.type === "track") return event.event || "";
    if (event.type === "page" || event.type === "screen") return event.name || "";
    if (event.type === "group") return event.message.groupId ? `group ${event.message.groupId}` : "";
    if (event.type === "alias") return event.message.previousId ? `from ${event.message.previousId}` : "";
    const traits = event.message.traits || {};
    if (traits.email || traits.name) return traits.email || traits.name;
    const first = Object.entries(traits)[0];
    return first ? `${first[0]}: ${typeof first[1] === "object" ? JSON.stringify(first[1]) : first[1]}` : "";
  }

  function renderJson(value, indent = "") {
    const out = document.createDocumentFragment();
    const next = indent + "  ";
    if (value === null) {
      out.append(el("span", "j-null", "null"));
    } else if (Array.isArray(value)) {
      if (value.length === 0) { out.append("[]"); return out; }
      out.append("[\n");
      value.forEach((item, i) => {
        out.append(next, renderJson(item, next), i < value.length - 1 ? ",\n" : "\n");
      });
      out.append(indent + "]");
    } else if (typeof value === "object") {
      const keys = Object.keys(value);
      if (keys.length === 0) { out.append("{}"); return out; }
      out.append("{\n");
      keys.forEach((key, i) => {
        out.append(next, el("span", "j-key", JSON.stringify(key)), ": ",
          renderJson(value[key], next), i < keys.length - 1 ? ",\n" : "\n");
      });
      out.append(indent + "}");
    } else if (typeof value === "string") {
      out.append(el("span", "j-str", JSON.stringify(value)));
    } else if (typeof value === "number") {
      out.append(el("span", "j-num", String(value)));
    } else {
      out.append(el("span", "j-bool", String(value)));
    }
    return out;
  }

  // ---------------------------------------------------------------- filtering

  function matches(event) {
    const { type, event: name, user } = state.filter;
    if (type && event.type !== type) return false;
    if (name && event.event !== name && event.name !== name) return false;
    if (user && event.userId !== user && event.anonymousId !== user) return false;
    return true;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== "" && value !== null) search.set(key, value);
    return search.toString();
  }

  // ---------------------------------------------------------------- table

  function makeRow(event, fresh) {
    const row = el("tr");
    row.dataset.id = event.id;
    row.dataset.messageId = event.messageId;
    row.dataset.type = event.type;
    if (fresh) row.classList.add("fresh");
    if (event.id === state.selectedId) row.classList.add("selected");
    row.append(el("td", "time", formatTime(event.receivedAt)));
    const typeCell = el("td");
    typeCell.append(el("span", `badge ${event.type}`, event.type));
    row.append(typeCell);
    const nameCell = el("td", "name", label(event));
    if (event.violations && event.violations.length) {
      // The collector has a tracking plan loaded, and this message breaks it.
      row.classList.add("violates");
      const badge = el("span", "violation", `breaks plan (${event.violations.length})`);
      badge.title = event.violations.join("\n");
      nameCell.append(" ", badge);
    }
    row.append(nameCell);
    const userCell = el("td", "user");
    if (event.userId) {
      userCell.textContent = event.userId;
    } else if (event.anonymousId) {
      userCell.append(el("span", "user-anon", `anon ${event.anonymousId}`));
    }
    row.append(userCell);
    row.append(el("td", "msgid", (event.messageId || "").slice(0, 8)));
    row.addEventListener("click", () => select(event));
    return row;
  }

  function renderTable() {
    const body = $("events");
    body.replaceChildren(...state.events.map((event) => makeRow(event, false)));
    updateShown();
  }

  function updateShown() {
    const shown = state.events.length;
    $("empty").hidden = shown > 0;
    $("shown").textContent = shown ? `showing ${shown} of ${state.matching}` : "";
  }

  function addLive(events) {
    const body = $("events");
    for (const event of events) {
      state.recent.unshift(event);
      if (!matches(event)) continue;
      if (state.events.length && state.events[0].id >= event.id) continue;
      state.matching += 1;
      state.events.unshift(event);
      body.prepend(makeRow(event, true));
    }
    if (state.recent.length > MAX_ROWS) state.recent.length = MAX_ROWS;
    while (state.events.length > MAX_ROWS) {
      state.events.pop();
      body.lastElementChild?.remove();
    }
    updateShown();
  }

  async function load() {
    const seq = ++state.loadSeq;
    const response = await fetch(`/api/events?${query({ ...state.filter, limit: MAX_ROWS })}`);
    if (!response.ok || seq !== state.loadSeq) return;
    const page = await response.json();
    if (seq !== state.loadSeq) return;
    // Keep what the stream brought after the snapshot was taken.
    const newest = page.events.length ? page.events[0].id : 0;
    const later = state.recent.filter((event) => event.id > newest && matches(event));
    state.events = [...later, ...page.events].slice(0, MAX_ROWS);
    state.matching = page.total + later.length;
    renderTable();
  }

  // ---------------------------------------------------------------- detail

  function select(event) {
    state.selectedId = event.id;
    for (const row of $("events").querySelectorAll("tr.selected")) row.classList.remove("selected");
    $("events").querySelector(`tr[data-id="${event.id}"]`)?.classList.add("selected");
    $("detail-title").textContent = `${event.type}${label(event) ? ": " + label(event) : ""}`;
    const meta = $("detail-meta");
    meta.replaceChildren();
    const facts = [
      ["messageId", event.messageId],
      ["userId", event.userId],
      ["anonymousId", event.anonymousId],
      ["timestamp", event.timestamp],
      ["received", event.receivedAt],
      ["duplicates", String(event.duplicates)],
      ["violations", (event.violations || []).join("\n")],
    ];
    for (const [name, value] of facts) {
      if (value === null || value === undefined || value === "") continue;
      meta.append(el("dt", "", name), el("dd", "mono", value));
    }
    $("detail").replaceChildren(renderJson(event.message));
    const copy = $("copy");
    copy.disabled = false;
    copy.onclick = () => navigator.clipboard?.writeText(JSON.stringify(event.message, null, 2));
  }

  // ---------------------------------------------------------------- counts

  function countList(target, entries, onPick, active, swatches) {
    const items = entries.map(([name, n]) => {
      const item = el("li");
      item.dataset.name = name;
      if (name === active) item.classList.add("active");
      const text = el("span", "label");
      if (swatches) {
        const swatch = el("span", "swatch");
        swatch.style.background = `var(--${name})`;
        text.append(swatch);
      }
      text.append(name);
      item.append(text, el("span", "n", n.toLocaleString()));
      item.addEventListener("click", () => onPick(name));
      return item;
    });
    target.replaceChildren(...items);
  }

  let countsTimer = null;
  function scheduleCounts() {
    if (countsTimer !== null) return;
    countsTimer = setTimeout(() => { countsTimer = null; loadCounts(); }, 250);
  }

  async function loadCounts() {
    const response = await fetch("/api/counts");
    if (!response.ok) return;
    const counts = await response.json();
    $("total").textContent = counts.total.toLocaleString();
    $("duplicates").textContent = counts.duplicates.toLocaleString();
    const pickType = (name) => setFilter({ type: state.filter.type === name ? "" : name });
    const pickEvent = (name) => setFilter({ event: state.filter.event === name ? "" : name });
    countList($("counts-types"), Object.entries(counts.types), pickType, state.filter.type, true);
    countList($("counts-events"), Object.entries(counts.events), pickEvent, state.filter.event, false);
    $("event-names").replaceChildren(...Object.keys(counts.events).map((name) => {
      const option = el("option");
      option.value = name;
      return option;
    }));
  }

  // ---------------------------------------------------------------- filters

  function setFilter(change) {
    Object.assign(state.filter, change);
    $("filter-type").value = state.filter.type;
    $("filter-event").value = state.filter.event;
    $("filter-user").value = state.filter.user;
    for (const item of $("counts-types").children) item.classList.toggle("active", item.dataset.name === state.filter.type);
    for (const item of $("counts-events").children) item.classList.toggle("active", item.dataset.name === state.filter.event);
    load();
  }

  let typingTimer = null;
  function onTyping() {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => setFilter({
      event: $("filter-event").value.trim(),
      user: $("filter-user").value.trim(),
    }), 200);
  }

  // ---------------------------------------------------------------- live stream

  function setStatus(kind, text) {
    $("status").dataset.state = kind;
    $("status-text").textContent = text;
  }

  function connect() {
    const source = new EventSource("/api/stream");
    let dropped = false;
    source.addEventListener("open", () => {
      setStatus("live", "live");
      // Back after a break: catch up on what arrived while the stream was down.
      if (dropped) { dropped = false; load(); loadCounts(); }
    });
    source.addEventListener("error", () => { dropped = true; setStatus("offline", "reconnecting"); });
    source.addEventListener("stored", (message) => {
      const event = JSON.parse(message.data);
      state.arrivals.push([Date.now(), 1]);
      addLive([event]);
      scheduleCounts();
    });
    // Fell behind: the server skipped what it could not send, and says how many it skipped,
    // so that the rate still counts them.
    source.addEventListener("reset", (message) => {
      const { dropped } = JSON.parse(message.data || "{}");
      if (dropped > 0) state.arrivals.push([Date.now(), dropped]);
      load();
      loadCounts();
    });
  }

  function updateRate() {
    const now = Date.now();
    while (state.arrivals.length && now - state.arrivals[0][0] > RATE_WINDOW_MS) state.arrivals.shift();
    const count = state.arrivals.reduce((sum, [, n]) => sum + n, 0);
    $("rate").textContent = Math.round(count / (RATE_WINDOW_MS / 1000)).toLocaleString();
  }

  async function loadConfig() {
    const response = await fetch("/api/config");
    if (!response.ok) return;
    const { faults, plan } = await response.json();
    if (plan) {
      $("plan").textContent = `tracking plan${plan.name ? " " + plan.name : ""}: ${plan.events} events`;
      $("plan").hidden = false;
    }
    const parts = [];
    if (faults.failRate) parts.push(`${Math.round(faults.failRate * 100)}% ${faults.failStatus}`);
    if (faults.dropRate) parts.push(`${Math.round(faults.dropRate * 100)}% dropped`);
    if (faults.latency) parts.push(`+${faults.latency}s latency`);
    if (parts.length) {
      $("faults").textContent = `fault injection: ${parts.join(", ")}`;
      $("faults").hidden = false;
    }
  }

  // ---------------------------------------------------------------- start

  function start() {
    $("origin").textContent = window.location.origin;
    $("filter-type").addEventListener("change", () => setFilter({ type: $("filter-type").value }));
    $("filter-event").addEventListener("input", onTyping);
    $("filter-user").addEventListener("input", onTyping);
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("clear-filters").addEventListener("click", () => setFilter({ type: "", event: "", user: "" }));
    setInterval(updateRate, 1000);
    connect();
    load();
    loadCounts();
    loadConfig();
  }

  start();
})();
