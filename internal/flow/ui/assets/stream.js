// Following the flow API: a streamed GET with follow=true read line by line, and, when
// streaming fails, a plain GET every two seconds.

const FLOWS = "api/v1/flows";
const POLL_MS = 2000;

// watchFlows follows the flows that query (URLSearchParams) selects until the returned
// stop function is called. The handlers receive:
//   reset(flows)  the whole list, oldest first (at the start of a stream, and each poll)
//   add(flows)    flows that arrived on the stream, oldest first
//   status(mode, detail)  mode is "live", "polling" or "error"
export function watchFlows(query, handlers) {
  const ctl = new AbortController();
  run(query, handlers, ctl.signal);
  return () => ctl.abort();
}

async function run(query, h, signal) {
  let why;
  try {
    await stream(query, h, signal);
    why = "the stream ended";
  } catch (err) {
    why = err.message;
  }
  if (!signal.aborted) {
    await poll(query, h, signal, why);
  }
}

async function stream(query, h, signal) {
  const q = new URLSearchParams(query);
  q.set("follow", "true");
  const resp = await fetch(`${FLOWS}?${q}`, { signal, headers: { Accept: "application/x-ndjson" } });
  if (!resp.ok) {
    throw new Error(await failure(resp));
  }
  if (!resp.body) {
    throw new Error("this browser cannot read a response as a stream");
  }
  h.reset([]);
  h.status("live");
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    const lines = (rest + value).split("\n");
    rest = lines.pop();
    const flows = lines.filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
    if (flows.length > 0) {
      h.add(flows);
    }
  }
}

async function poll(query, h, signal, why) {
  let last = null;
  while (!signal.aborted) {
    try {
      const resp = await fetch(`${FLOWS}?${new URLSearchParams(query)}`, { signal });
      if (!resp.ok) {
        throw new Error(await failure(resp));
      }
      // An unchanged answer changes nothing on the page.
      const text = await resp.text();
      if (text !== last) {
        last = text;
        h.reset(JSON.parse(text).flows ?? []);
      }
      h.status("polling", `streaming failed (${why}); polling every ${POLL_MS / 1000} s`);
    } catch (err) {
      if (signal.aborted) {
        return;
      }
      h.status("error", err.message);
    }
    await sleep(POLL_MS, signal);
  }
}

async function failure(resp) {
  const text = (await resp.text()).trim();
  return `${resp.status} ${resp.statusText}${text ? `: ${text}` : ""}`;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
