// The flow graph: workloads in one column per namespace (addresses outside the cluster
// in a column of their own), an edge per source, destination and port. An edge is
// denied when the latest flow of either reporter denied it (a connection passes only
// when both ends allow it), amber when allowed but a staged policy would deny it.

import { setAttrs, setText, svgEl, sync } from "./dom.js";
import { endpointKey, hasPendingDeny, isExternal, timeOf } from "./format.js";

const EXTERNAL = "external";
const NO_NAMESPACE = "hosts";
const NODE_W = 136;
const NODE_H = 30;
const ROW_H = 42;
const GROUP_HEAD = 30;
const GROUP_GAP = 18;
const TOP = 10;
const PAD = 16;
const LEFT = 56; // room for the edges within the first column
const MIN_COL = 200;
const MAX_COL = 320;
const MAX_LABEL = 18;
const MAX_EDGE_LABELS = 80;
const KINDS = ["allow", "pending", "deny"]; // drawing order: denials on top

// model groups flows into nodes (by endpoint) and edges (by source, destination, port).
export function model(flows) {
  const nodes = new Map();
  const edges = new Map();
  const addNode = (e) => {
    const key = endpointKey(e);
    if (!nodes.has(key)) {
      const group = isExternal(e) ? EXTERNAL : e.namespace || NO_NAMESPACE;
      nodes.set(key, { key, group, label: isExternal(e) ? e.ip : e.name, endpoint: e });
    }
    return key;
  };
  for (const f of flows) {
    const src = addNode(f.source);
    const dst = addNode(f.destination);
    const key = edgeKey(f);
    let edge = edges.get(key);
    if (!edge) {
      edge = { key, src, dst, port: f.destination.port ?? 0, flows: 0, latest: new Map() };
      edges.set(key, edge);
    }
    edge.flows++;
    const prev = edge.latest.get(f.reporter);
    if (!prev || timeOf(prev.end) <= timeOf(f.end)) {
      edge.latest.set(f.reporter, f);
    }
  }
  for (const edge of edges.values()) {
    const current = [...edge.latest.values()];
    const denied = current.find((f) => f.action === "deny");
    edge.action = denied ? "deny" : "allow";
    edge.pendingDeny = !denied && current.some(hasPendingDeny);
    edge.kind = denied ? "deny" : edge.pendingDeny ? "pending" : "allow";
    edge.flow = denied ?? current.find(hasPendingDeny) ?? current.reduce((a, b) => (timeOf(a.end) >= timeOf(b.end) ? a : b));
    edge.protocol = edge.flow.protocol;
  }
  return { nodes, edges };
}

// edgeKey is the key of the edge a flow belongs to.
export function edgeKey(f) {
  return `${endpointKey(f.source)}|${endpointKey(f.destination)}|${f.destination.port ?? 0}`;
}

// groupOrder lists groups so that those that mostly send come before those that mostly
// receive: most edges then run forward. The outside world goes first when it mostly
// sends (ingress from the internet), last otherwise.
function groupOrder(nodes, edges) {
  const score = new Map();
  for (const e of edges.values()) {
    const from = nodes.get(e.src).group;
    const to = nodes.get(e.dst).group;
    if (from !== to) {
      score.set(from, (score.get(from) ?? 0) + 1);
      score.set(to, (score.get(to) ?? 0) - 1);
    }
  }
  const groups = [...new Set([...nodes.values()].map((n) => n.group))];
  const inside = groups.filter((g) => g !== EXTERNAL)
    .sort((a, b) => (score.get(b) ?? 0) - (score.get(a) ?? 0) || a.localeCompare(b));
  if (!groups.includes(EXTERNAL)) {
    return inside;
  }
  return (score.get(EXTERNAL) ?? 0) > 0 ? [EXTERNAL, ...inside] : [...inside, EXTERNAL];
}

// columns assigns each group a column: one past the furthest group that sends to it
// from earlier in the order (edges running backwards are left out, so cycles end).
function columns(order, nodes, edges) {
  const rank = new Map(order.map((g, i) => [g, i]));
  const preds = new Map(order.map((g) => [g, new Set()]));
  for (const e of edges.values()) {
    const from = nodes.get(e.src).group;
    const to = nodes.get(e.dst).group;
    if (rank.get(from) < rank.get(to)) {
      preds.get(to).add(from);
    }
  }
  const col = new Map();
  for (const g of order) {
    col.set(g, Math.max(0, ...[...preds.get(g)].map((p) => col.get(p) + 1)));
  }
  return col;
}

// layout places each group in its column (groups of a column stacked, the columns
// centred on the tallest) and each node in its group, sorted by label; the columns
// spread over width when there is room.
function layout(nodes, edges, width) {
  const order = groupOrder(nodes, edges);
  const colOf = columns(order, nodes, edges);
  const ncols = Math.max(...colOf.values()) + 1;
  const colW = ncols < 2 ? MIN_COL
    : Math.min(MAX_COL, Math.max(MIN_COL, (width - LEFT - PAD - NODE_W) / (ncols - 1)));
  const groups = order.map((name) => ({
    name,
    col: colOf.get(name),
    x: LEFT + colOf.get(name) * colW,
    members: [...nodes.values()].filter((n) => n.group === name)
      .sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true })),
  }));
  const boxH = (g) => GROUP_HEAD + g.members.length * ROW_H;
  const colH = Array.from({ length: ncols }, (_, c) =>
    groups.filter((g) => g.col === c).reduce((h, g) => h + boxH(g) + GROUP_GAP, -GROUP_GAP));
  const height = Math.max(...colH);
  for (let c = 0; c < ncols; c++) {
    let y = TOP + (height - colH[c]) / 2;
    for (const g of groups.filter((g) => g.col === c)) {
      g.y = y;
      g.members.forEach((n, row) => {
        n.col = c;
        n.x = g.x;
        n.y = y + GROUP_HEAD + row * ROW_H;
      });
      y += boxH(g) + GROUP_GAP;
    }
  }
  return {
    groups,
    width: Math.ceil(LEFT + (ncols - 1) * colW + NODE_W + PAD),
    height: Math.ceil(TOP + height + PAD),
  };
}

// curve is the cubic Bézier of an edge (four points); lane spreads parallel edges. Edges
// run from a node's right side to the next node's left side; within a column they
// bulge out on the left, where edges come in.
function curve(s, d, lane) {
  const sy = s.y + NODE_H / 2;
  const dy = d.y + NODE_H / 2;
  if (s === d) {
    const out = s.x - 40 - Math.abs(lane) * 10;
    return [[s.x, sy - 7], [out, sy - 30], [out, sy + 30], [s.x, sy + 7]];
  }
  if (s.col === d.col) {
    const cx = s.x - 40 - Math.abs(lane) * 14;
    return [[s.x, sy], [cx, sy], [cx, dy], [s.x, dy]];
  }
  const forward = s.col < d.col;
  const sx = forward ? s.x + NODE_W : s.x;
  const dx = forward ? d.x : d.x + NODE_W;
  const mx = (sx + dx) / 2;
  const off = lane * 12;
  return [[sx, sy], [mx, sy + off], [mx, dy + off], [dx, dy]];
}

function pointAt(p, t) {
  const u = 1 - t;
  const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
  return [0, 1].map((i) => w.reduce((sum, wk, k) => sum + wk * p[k][i], 0));
}

function truncate(s) {
  return s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s;
}

function edgeDescription(e) {
  const state = { deny: "denied", pending: "allowed, a staged policy would deny it", allow: "allowed" }[e.kind];
  const port = e.port ? ` port ${e.port}` : "";
  return `${e.src} to ${e.dst}${port} ${e.protocol}: ${state} (${e.flows} flow${e.flows === 1 ? "" : "s"})`;
}

export class FlowGraph {
  // onEdge(flow) is called when an edge is chosen, with the flow that coloured it;
  // onNode(key) when a node is.
  constructor(svg, { onEdge, onNode }) {
    this.svg = svg;
    this.edges = new Map();
    this.cache = { groups: new Map(), edges: new Map(), nodes: new Map(), labels: new Map() };
    const layer = (name) => svgEl(svg, "g", { class: name });
    this.layers = { groups: layer("groups"), edges: layer("edges"), nodes: layer("nodes"), labels: layer("edge-labels") };
    this.empty = svgEl(svg, "text", { x: PAD, y: 34, class: "graph-empty" }, "No flows to draw yet.");
    const defs = svgEl(svg, "defs", {}, KINDS.map((kind) => svgEl(svg, "marker", {
      id: `arrow-${kind}`, class: `arrow ${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerUnits: "userSpaceOnUse", markerWidth: 9, markerHeight: 9, orient: "auto",
    }, svgEl(svg, "path", { d: "M0,0 L10,5 L0,10 z" }))));
    svg.replaceChildren(defs, ...Object.values(this.layers), this.empty);

    const pick = (ev) => {
      const edge = ev.target.closest(".edge, .edge-label");
      if (edge && this.edges.has(edge.dataset.key)) {
        onEdge(this.edges.get(edge.dataset.key).flow);
        return true;
      }
      const node = ev.target.closest(".node");
      if (node) {
        onNode(node.dataset.key);
        return true;
      }
      return false;
    };
    svg.addEventListener("click", pick);
    svg.addEventListener("keydown", (ev) => {
      if ((ev.key === "Enter" || ev.key === " ") && pick(ev)) {
        ev.preventDefault();
      }
    });
  }

  // render draws flows; focus (a node key) dims what does not touch it, selected (a
  // flow) marks its edge.
  render(flows, { focus = null, selected = null } = {}) {
    const { nodes, edges } = model(flows);
    this.edges = edges;
    this.empty.toggleAttribute("hidden", nodes.size > 0);
    const { groups, width, height } = nodes.size > 0
      ? layout(nodes, edges, this.svg.parentElement.clientWidth)
      : { groups: [], width: 400, height: 60 };
    setAttrs(this.svg, { viewBox: `0 0 ${width} ${height}`, width, height });
    this.drawGroups(groups);
    this.drawEdges(nodes, edges, focus, selected ? edgeKey(selected) : null);
    this.drawNodes(nodes, focus);
  }

  drawGroups(groups) {
    const s = this.svg;
    sync(this.layers.groups, this.cache.groups, groups.map((g) => ({ ...g, key: g.name })),
      () => svgEl(s, "g", { class: "group" }, svgEl(s, "rect", { rx: 8 }), svgEl(s, "text", { class: "group-label" })),
      (node, g) => {
        setAttrs(node, { "data-group": g.name });
        setAttrs(node.children[0], {
          x: g.x - 8, y: g.y, width: NODE_W + 16, height: GROUP_HEAD + g.members.length * ROW_H - (ROW_H - NODE_H) + 8,
        });
        setAttrs(node.children[1], { x: g.x, y: g.y + 19 });
        setText(node.children[1], truncate(g.name));
      });
  }

  drawEdges(nodes, edges, focus, selectedKey) {
    const s = this.svg;
    const lanes = new Map();
    const items = [...edges.values()]
      .sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.key.localeCompare(b.key))
      .map((e) => {
        const pair = [e.src, e.dst].sort().join("|");
        const n = lanes.get(pair) ?? 0;
        lanes.set(pair, n + 1);
        const p = curve(nodes.get(e.src), nodes.get(e.dst), n % 2 === 0 ? n / 2 : -(n + 1) / 2);
        const dim = focus !== null && e.src !== focus && e.dst !== focus;
        return { ...e, p, d: `M${p[0]} C${p[1]} ${p[2]} ${p[3]}`, dim, description: edgeDescription(e) };
      });
    sync(this.layers.edges, this.cache.edges, items,
      () => svgEl(s, "g", { tabindex: 0, role: "button" },
        svgEl(s, "title"), svgEl(s, "path", { class: "hit" }), svgEl(s, "path", { class: "line" })),
      (node, e) => {
        const classes = ["edge", e.kind, e.dim && "dim", e.key === selectedKey && "selected"];
        setAttrs(node, {
          class: classes.filter(Boolean).join(" "), "aria-label": e.description,
          "data-key": e.key, "data-src": e.src, "data-dst": e.dst, "data-port": e.port,
          "data-action": e.action, "data-pending": e.pendingDeny ? "deny" : undefined,
        });
        setText(node.children[0], e.description);
        setAttrs(node.children[1], { d: e.d });
        setAttrs(node.children[2], { d: e.d, "marker-end": `url(#arrow-${e.kind})` });
      });
    const labelled = edges.size <= MAX_EDGE_LABELS ? items.filter((e) => e.port) : [];
    sync(this.layers.labels, this.cache.labels, labelled,
      () => svgEl(s, "text", {}, svgEl(s, "title"), document.createTextNode("")),
      (node, e) => {
        const [x, y] = pointAt(e.p, 0.5);
        setAttrs(node, { x, y: y - 5, class: `edge-label${e.dim ? " dim" : ""}`, "data-key": e.key });
        setText(node.firstChild, e.description);
        node.lastChild.data = String(e.port);
      });
  }

  drawNodes(nodes, focus) {
    const s = this.svg;
    sync(this.layers.nodes, this.cache.nodes, [...nodes.values()],
      () => svgEl(s, "g", { tabindex: 0, role: "button" },
        svgEl(s, "title"), svgEl(s, "rect", { width: NODE_W, height: NODE_H, rx: 6 }),
        svgEl(s, "text", { x: 10, y: NODE_H / 2 + 4 })),
      (node, n) => {
        const e = n.endpoint;
        const title = isExternal(e) ? `${e.ip} (outside the cluster)` : `${n.key} (${e.ip})`;
        const classes = ["node", isExternal(e) && "external", focus && n.key !== focus && "dim", n.key === focus && "focused"];
        setAttrs(node, {
          class: classes.filter(Boolean).join(" "), transform: `translate(${n.x} ${n.y})`,
          "aria-label": `${title}: show only its flows`, "aria-pressed": n.key === focus ? "true" : "false",
          "data-key": n.key, "data-group": n.group,
          "data-namespace": e.namespace || undefined, "data-name": e.name || undefined, "data-ip": e.ip,
        });
        setText(node.children[0], title);
        setText(node.children[2], truncate(n.label));
      });
  }
}
