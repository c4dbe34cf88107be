// Building elements from data. Text always goes in as text nodes, never as HTML, so a
// name in a flow cannot become markup.

// setAttrs sets node's attributes; undefined, null and false remove one, true sets it
// empty.
export function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      node.removeAttribute(name);
    } else {
      const v = value === true ? "" : String(value);
      if (node.getAttribute(name) !== v) {
        node.setAttribute(name, v);
      }
    }
  }
  return node;
}

function build(node, attrs, children) {
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false || child === "") {
      continue;
    }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// el makes an HTML element with attributes and children (nodes or text).
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// svgEl makes an element in the namespace of svg, an element of the page.
export function svgEl(svg, tag, attrs = {}, ...children) {
  return build(document.createElementNS(svg.namespaceURI, tag), attrs, children);
}

// sync makes layer hold one element per item, in the items' order, keeping the element
// of each key from one call to the next (cache: key -> element) so that a redraw does
// not swallow a click or the keyboard focus. make(item) creates an element, fill(el,
// item) brings it up to date.
export function sync(layer, cache, items, make, fill) {
  const keep = new Set();
  items.forEach((item, i) => {
    let node = cache.get(item.key);
    if (!node) {
      node = make(item);
      cache.set(item.key, node);
    }
    fill(node, item);
    keep.add(item.key);
    if (layer.children[i] !== node) {
      layer.insertBefore(node, layer.children[i] ?? null);
    }
  });
  for (const [key, node] of cache) {
    if (!keep.has(key)) {
      node.remove();
      cache.delete(key);
    }
  }
}

// setText sets node's text when it differs.
export function setText(node, text) {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}
