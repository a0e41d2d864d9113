/** The status page: one static HTML document with inline JS and CSS (no build step). */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tributary status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:20px;background:#0f1419;color:#d8dee4}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px;color:#9fb3c8}
.sub{color:#7d8b99;margin-bottom:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#1a2129;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px;color:#fff;font-variant-numeric:tabular-nums}
.card span{color:#7d8b99;font-size:12px}
#heat{display:grid;grid-template-columns:repeat(64,10px);gap:1px}
#heat div{width:10px;height:10px;border-radius:1px;background:#2a333d}
svg{background:#1a2129;border-radius:6px}
table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #2a333d}
.ok{color:#5fd38d}.bad{color:#ff7b72}#errors li{color:#ff7b72;font-family:monospace}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
</style></head><body>
<h1>Tributary</h1><div class="sub" id="sub">connecting…</div>
<div class="cards">
<div class="card"><b id="rate">0</b><span>mutations/s</span></div>
<div class="card"><b id="mutations" data-metric="channel-index.mutations">0</b><span>mutations indexed</span></div>
<div class="card"><b id="deletions" data-metric="channel-index.deletions">0</b><span>deletions indexed</span></div>
<div class="card"><b id="entries" data-metric="channel-index.entries">0</b><span>channel entries</span></div>
<div class="card"><b id="lag">0</b><span>total lag (seqnos)</span></div>
<div class="card"><b id="rollbacks" data-metric="channel-index.rollbacks">0</b><span>rollbacks</span></div>
<div class="card"><b id="errorCount">0</b><span>errors</span></div>
</div>
<h2>Mutations/s, last minutes</h2>
<svg id="chart" width="640" height="140" viewBox="0 0 640 140"><polyline id="line" fill="none" stroke="#58a6ff" stroke-width="2" points=""/><text id="max" x="6" y="14" fill="#7d8b99" font-size="11"></text></svg>
<h2>vbuckets: progress and lag</h2>
<div class="legend">state: <span style="background:#2a333d"></span>not streaming<span style="background:#2ea043"></span>caught up<span style="background:#d29922"></span>lagging<span style="background:#f85149"></span>far behind</div>
<div id="heat"></div>
<h2>Connections and streams</h2>
<table><thead><tr><th>server</th><th>state</th><th>vbuckets</th></tr></thead><tbody id="workers"></tbody></table>
<div id="streams" class="sub"></div>
<h2>Errors</h2><ul id="errors"></ul>
<script>
const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n).toLocaleString('en-US');
function colour(v) {
  if (v.state !== 'running') return '#2a333d';
  if (v.lag === 0) return '#2ea043';
  return v.lag < 100 ? '#d29922' : '#f85149';
}
function render(s) {
  $('sub').textContent = s.title + ' · updated ' + new Date(s.at).toLocaleTimeString();
  $('rate').textContent = fmt(s.rate);
  $('mutations').textContent = fmt(s.counters.mutations);
  $('deletions').textContent = fmt(s.counters.deletions);
  $('entries').textContent = fmt(s.counters.entries);
  $('rollbacks').textContent = fmt(s.counters.rollbacks);
  $('lag').textContent = fmt(s.lagTotal);
  $('errorCount').textContent = fmt(s.errorCount);
  document.body.dataset.mutations = s.counters.mutations;
  const heat = $('heat');
  while (heat.children.length < s.vbuckets.length) heat.appendChild(document.createElement('div'));
  s.vbuckets.forEach((v, i) => {
    const d = heat.children[i];
    d.style.background = colour(v);
    d.title = 'vb ' + v.vbucket + ' ' + v.state + ' seq ' + v.lastSeq + '/' + v.highSeqno + ' lag ' + v.lag;
  });
  const h = s.history.length > 1 ? s.history : [0, ...s.history], max = Math.max(1, ...h);
  $('max').textContent = 'max ' + fmt(max) + '/s';
  $('line').setAttribute('points', h.map((y, i) => (640 - (h.length - 1 - i) * (640 / 299)).toFixed(1) + ',' + (135 - (y / max) * 115).toFixed(1)).join(' '));
  $('workers').innerHTML = s.workers.map((w) => '<tr><td>' + w.server + '</td><td class="' + (w.connected ? 'ok">connected' : 'bad">disconnected') + '</td><td>' + w.vbuckets + '</td></tr>').join('');
  const st = {};
  s.vbuckets.forEach((v) => { st[v.state || 'idle'] = (st[v.state || 'idle'] || 0) + 1; });
  $('streams').textContent = 'streams: ' + Object.entries(st).map(([k, n]) => k + ' ' + n).join(', ');
  $('errors').innerHTML = s.errors.length ? s.errors.map((e) => '<li></li>').join('') : '<li style="color:#5fd38d">none</li>';
  s.errors.forEach((e, i) => { $('errors').children[i].textContent = e; });
  document.body.dataset.ready = '1';
}
const es = new EventSource('/status/events');
es.onmessage = (m) => render(JSON.parse(m.data));
es.onerror = () => { $('sub').textContent = 'disconnected, retrying…'; };
</script></body></html>
`;
