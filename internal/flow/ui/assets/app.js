// The flow page: filters, the live table, the graph and the trace panel, wired to the
// flow stream. Flows are kept oldest first, at most CAP of them.

import { watchFlows } from "./stream.js";
import { FlowTable } from "./table.js";
import { FlowGraph } from "./graph.js";
import { TracePanel } from "./trace.js";
import { endpointKey, formatCount, hasPendingDeny } from "./format.js";

const CAP = 2000;
const SERVER_FILTERS = ["namespace", "pod", "action", "port", "since"];
const TYPING_MS = 300;
const RENDER_MS = 80;

const form = document.getElementById("filters");
const status = document.getElementById("status");
const empty = document.getElementById("empty");
const focusNote = document.getElementById("focus");
const counts = {
  shown: document.getElementById("count-shown"),
  allow: document.getElementById("count-allow"),
  deny: document.getElementById("count-deny"),
  pending: document.getElementById("count-pending"),
};

const state = {
  flows: [], // oldest first
  incoming: [], // arrived since the last render, oldest first
  full: true, // the next render rebuilds the table
  selected: null,
  focus: null, // a node key
  stop: null,
  timer: 0,
};

const table = new FlowTable(document.getElementById("flows"), select);
const graph = new FlowGraph(document.getElementById("graph"), { onEdge: select, onNode: toggleFocus });
const trace = new TracePanel(document.getElementById("trace"));

function onlyPending() {
  return form.elements.pending.checked;
}

// shown says whether the table and the counts show f (the server filtered already).
function shown(f) {
  if (onlyPending() && !hasPendingDeny(f)) {
    return false;
  }
  return !state.focus || endpointKey(f.source) === state.focus || endpointKey(f.destination) === state.focus;
}

function serverQuery() {
  const q = new URLSearchParams();
  for (const name of SERVER_FILTERS) {
    const v = form.elements[name].value.trim();
    if (v !== "") {
      q.set(name, v);
    }
  }
  q.set("limit", String(CAP));
  return q;
}

// The filters live in the page's address too, so that a reload or a shared link keeps them.
function loadFilters() {
  const q = new URLSearchParams(location.search);
  for (const name of SERVER_FILTERS) {
    if (q.has(name)) {
      form.elements[name].value = q.get(name);
    }
  }
  if (form.elements.since.selectedIndex < 0) {
    form.elements.since.value = "15m";
  }
  form.elements.pending.checked = q.get("pending") === "1";
}

function saveFilters() {
  const q = serverQuery();
  q.delete("limit");
  if (!form.elements.since.value) {
    q.set("since", "");
  } else if (form.elements.since.value === "15m") {
    q.delete("since");
  }
  if (onlyPending()) {
    q.set("pending", "1");
  }
  const search = q.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function restart() {
  if (!form.elements.port.checkValidity()) {
    setStatus("error", "port: want a number from 1 to 65535");
    return;
  }
  saveFilters();
  state.stop?.();
  state.flows = [];
  state.incoming = [];
  state.full = true;
  schedule();
  setStatus("connecting");
  state.stop = watchFlows(serverQuery(), {
    reset(flows) {
      state.flows = flows.slice(-CAP);
      state.incoming = [];
      state.full = true;
      schedule();
    },
    add(flows) {
      state.flows.push(...flows);
      state.incoming.push(...flows);
      const over = state.flows.length - CAP;
      if (over > 0) {
        for (const f of state.flows.splice(0, over)) {
          table.remove(f);
        }
        state.incoming = state.incoming.slice(-CAP);
      }
      schedule();
    },
    status: setStatus,
  });
}

function setStatus(mode, detail = "") {
  status.dataset.mode = mode;
  status.textContent = { live: "live", polling: "polling", error: "error", connecting: "connecting" }[mode] ?? mode;
  status.title = detail;
  if (detail && mode !== "live") {
    status.textContent += `: ${detail}`;
  }
}

function schedule() {
  if (!state.timer) {
    state.timer = setTimeout(render, RENDER_MS);
  }
}

function render() {
  state.timer = 0;
  if (state.full) {
    table.render(state.flows.filter(shown).reverse());
  } else if (state.incoming.length > 0) {
    table.prepend(state.incoming.filter(shown).reverse());
  }
  state.full = false;
  state.incoming = [];

  const visible = state.flows.filter(shown);
  counts.shown.textContent = formatCount(visible.length);
  counts.allow.textContent = formatCount(visible.filter((f) => f.action === "allow").length);
  counts.deny.textContent = formatCount(visible.filter((f) => f.action === "deny").length);
  counts.pending.textContent = formatCount(visible.filter(hasPendingDeny).length);
  empty.hidden = visible.length > 0;

  const drawn = onlyPending() ? state.flows.filter(hasPendingDeny) : state.flows;
  graph.render(drawn, { focus: state.focus, selected: state.selected });
}

function select(f) {
  state.selected = f;
  table.select(f);
  schedule();
  trace.show(f);
}

function toggleFocus(key) {
  state.focus = state.focus === key ? null : key;
  focusNote.hidden = !state.focus;
  focusNote.querySelector("strong").textContent = state.focus ?? "";
  state.full = true;
  schedule();
}

let typing = 0;
form.addEventListener("input", (ev) => {
  if (ev.target.type === "search" || ev.target.type === "number") {
    clearTimeout(typing);
    typing = setTimeout(restart, TYPING_MS);
  }
});
form.addEventListener("change", (ev) => {
  if (ev.target.name === "pending") {
    saveFilters();
    state.full = true;
    schedule();
  } else if (ev.target.tagName === "SELECT") {
    restart();
  }
});
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  clearTimeout(typing);
  restart();
});
focusNote.querySelector("button").addEventListener("click", () => toggleFocus(state.focus));

// The graph spreads its columns over the width it has.
let graphWidth = 0;
new ResizeObserver(([entry]) => {
  if (Math.abs(entry.contentRect.width - graphWidth) >= 1) {
    graphWidth = entry.contentRect.width;
    schedule();
  }
}).observe(document.getElementById("graph").parentElement);

loadFilters();
restart();
