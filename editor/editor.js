// The editor's page: it holds the edit (a list of steps) and asks the server for every picture.
// No filter is computed here: previews are developed by the project's own code on the server.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  session: null,
  name: null,          // the open photo
  steps: [],           // {class, parameters, enabled, policy, image}
  draws: [],           // the agent's draws of the open photo: {seed, steps, result}
  chosen: null,        // the draw the edit started from (null: by hand)
  game: false,         // playing the game: up to game_steps steps from the untouched photo
  undo: [], redo: [],
  preview: {busy: false, again: false},
};

function filterOf(cls) { return state.session.filters.find((f) => f.class === cls); }
function copySteps(steps) { return steps.map((s) => ({...s, parameters: [...s.parameters]})); }
function status(text) { $('status').textContent = text; }

async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  if (!r.ok) {
    let message = r.statusText;
    try { message = (await r.json()).error; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Pictures: the server sends RGB bytes (RGBA for a transparent photo), the size in its headers

// Receiving is a good part of a preview's time (Chromium: about 7 ms a megabyte), so the server sends
// RGB, a quarter fewer bytes than the RGBA a canvas takes, and each piece received is spread into the
// picture's RGBA words (R in the low byte: browsers are little-endian) while the next is on its way.
// Read so, a 1,600 x 1,067 preview takes 35 ms where response.arrayBuffer() of its RGBA took 55.
async function drawInto(canvas, response) {
  const w = +response.headers.get('X-Width'), h = +response.headers.get('X-Height');
  const channels = +response.headers.get('X-Channels');
  const image = new ImageData(w, h), words = new Uint32Array(image.data.buffer);
  const reader = response.body.getReader();
  let pixel = 0, rest = new Uint8Array(0);       // pixels filled; bytes of a pixel cut between pieces
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    let bytes = value;
    if (rest.length) { bytes = new Uint8Array(rest.length + value.length); bytes.set(rest); bytes.set(value, rest.length); }
    const whole = bytes.length - bytes.length % channels;
    if (pixel + whole / channels > w * h) throw new Error('the picture received is larger than its size');
    if (channels === 4) {
      image.data.set(bytes.subarray(0, whole), 4 * pixel);
      pixel += whole / 4;
    } else {
      for (let j = 0; j < whole; j += 3) words[pixel++] = bytes[j] | bytes[j + 1] << 8 | bytes[j + 2] << 16 | 0xff000000;
    }
    rest = bytes.slice(whole);
  }
  if (pixel !== w * h) throw new Error('the picture was cut short; try again');
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }   // else kept
  canvas.getContext('2d').putImageData(image, 0, 0);
  return image.data;
}

// The histogram of the visible pixels (alpha > 0), of every other pixel of every other row: a
// quarter of a preview's pixels draws the same curves at 256 x 80. Each pixel is read as one 32-bit
// word (RGBA in memory: R in the low byte, browsers being little-endian); the luminance weights
// 0.27, 0.67, 0.06 are in 256ths. 2.5 ms for a 1,600 x 1,067 preview (bench/editor_latency.py
// prints it) where counting every pixel byte by byte took 16 ms.
function drawHistogram(bytes, width) {
  const bins = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)];
  const [red, green, blue, luminance] = bins;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  for (let row = 0; row < words.length; row += 2 * width) {
    for (let i = row, end = row + width; i < end; i += 2) {
      const p = words[i];
      if (p >>> 24 === 0) continue;
      const r = p & 255, g = (p >>> 8) & 255, b = (p >>> 16) & 255;
      red[r]++; green[g]++; blue[b]++;
      luminance[(69 * r + 172 * g + 15 * b + 128) >> 8]++;
    }
  }
  const c = $('histogram').getContext('2d');
  c.clearRect(0, 0, 256, 80);
  const top = Math.max(...bins.map((b) => Math.max(...b.slice(1, 255)))) || 1;
  ['rgba(255,80,80,0.8)', 'rgba(80,255,80,0.8)', 'rgba(90,140,255,0.8)', 'rgba(255,255,255,0.9)']
    .forEach((colour, k) => {
      c.strokeStyle = colour; c.beginPath();
      for (let x = 0; x < 256; x++) c.lineTo(x, 80 - 80 * Math.min(1, bins[k][x] / top));
      c.stroke();
    });
}

// A copy: a preview's steps must stay those it was asked for while sliders move on during its request.
function activeSteps() {
  return state.steps.filter((s) => s.enabled).map((s) => ({class: s.class, parameters: [...s.parameters]}));
}

// One preview request at a time; changes made meanwhile are sent together when it returns.
async function preview() {
  if (state.preview.busy) { state.preview.again = true; return; }
  state.preview.busy = true;
  const name = state.name, steps = activeSteps();
  try {
    const r = await api('/api/preview', {name, steps});
    if (name === state.name) {
      drawHistogram(await drawInto($('after'), r), $('after').width);
      $('after').dataset.steps = JSON.stringify(steps);    // what the picture shows (the tests read it)
    }
  } catch (e) {
    status(e.message);
  } finally {
    state.preview.busy = false;
    if (state.preview.again) { state.preview.again = false; preview(); }
  }
}

function showMode() {
  const mode = document.querySelector('input[name=mode]:checked').value;
  const split = $('split').value;
  $('split').style.visibility = mode === 'split' ? 'visible' : 'hidden';
  // Each picture shows only its own part: where a photo is transparent the other would show through.
  $('after').style.visibility = mode === 'before' ? 'hidden' : 'visible';
  $('after').style.clipPath = mode === 'split' ? `inset(0 0 0 ${split}%)` : 'none';
  $('before').style.visibility = mode === 'after' ? 'hidden' : 'visible';
  $('before').style.clipPath = mode === 'split' ? `inset(0 ${100 - split}% 0 0)` : 'none';
}

// ---------------------------------------------------------------------------------------------
// The edit: changes, undo and redo

function change(fn, coalesce, from, inPlace) {
  // A slider dragged is one change for undo (coalesce names the slider). inPlace: the change is a
  // value the panel already shows (a slider moved): the panel is not rebuilt, which would end the drag.
  if (!coalesce || state.lastChange !== coalesce) state.undo.push(copySteps(state.steps));
  state.lastChange = coalesce || null;
  state.redo = [];
  fn();
  // A step's policy and picture are what the agent saw and chose at its place, after the steps
  // before it as the agent made them. A change to a step, or to which steps come before a step
  // (moved, deleted, switched off), leaves that step and every later one on another image than the
  // agent's: their probabilities would describe a choice nobody made there, so they are dropped
  // (not shown, and recorded as null in the recipe) from the first step the change touches on.
  if (from !== undefined) state.steps.slice(from).forEach((s) => { s.policy = null; s.image = null; });
  if (inPlace) {
    document.querySelectorAll('#steps .agent-step').forEach((row) => {
      if (+row.closest('.step').dataset.index >= from) row.remove();
    });
    renderButtons();
  } else {
    renderSteps();
  }
  preview();
}

function restore(from, to) {
  if (!from.length) return;
  to.push(copySteps(state.steps));
  state.steps = from.pop();
  state.lastChange = null;
  renderSteps();
  preview();
}

function setSteps(steps) {
  state.steps = steps;
  state.undo = []; state.redo = []; state.lastChange = null;
  renderSteps();
  preview();
}

function fromDraw(draw) {
  return draw.steps.map((s) => ({class: s.class, parameters: [...s.parameters], enabled: true,
                                 policy: s.policy, image: s.image, label: s.label}));
}

function madeBy() {
  if (state.game) return 'human';
  if (!state.chosen) return 'by hand';
  const same = JSON.stringify(activeSteps()) === JSON.stringify(fromDraw(state.chosen).map(
    (s) => ({class: s.class, parameters: s.parameters})));
  return same ? 'agent' : 'agent, adjusted';
}

function recipeBody() {
  return {steps: state.steps.filter((s) => s.enabled).map((s) => ({
    class: s.class, parameters: s.parameters, policy: s.image ? s.policy : null})),
          made_by: madeBy(), seed: state.chosen && !state.game ? state.chosen.seed : null};
}

// ---------------------------------------------------------------------------------------------
// Rendering the panel

function renderSteps() {
  const list = $('steps');
  list.textContent = '';
  state.steps.forEach((step, i) => list.appendChild(stepItem(step, i)));
  renderButtons();
}

function renderButtons() {
  const limit = state.game ? state.session.game_steps : state.session.max_steps;
  $('add-step').disabled = state.steps.length >= limit;
  $('steps-title').textContent = state.game ? `Your steps (at most ${limit})` : 'Steps';
  $('undo').disabled = !state.undo.length;
  $('redo').disabled = !state.redo.length;
}

function button(text, title, onclick) {
  const b = document.createElement('button');
  b.textContent = text; b.title = title; b.onclick = onclick;
  return b;
}

function stepItem(step, i) {
  const f = filterOf(step.class);
  const li = document.createElement('li');
  li.className = 'step' + (step.enabled ? '' : ' off');
  li.dataset.index = i;
  const head = document.createElement('div');
  head.className = 'head';
  const on = document.createElement('input');
  on.type = 'checkbox'; on.checked = step.enabled; on.title = 'switch this step on or off';
  on.onchange = () => change(() => { step.enabled = on.checked; }, null, i);
  const title = document.createElement('span');
  title.className = 'title'; title.textContent = f.name;
  head.append(on, title,
    button('↑', 'move up', () => i > 0 && change(() => state.steps.splice(i - 1, 0, ...state.steps.splice(i, 1)),
                                                null, i - 1)),
    button('↓', 'move down', () => i < state.steps.length - 1 &&
      change(() => state.steps.splice(i + 1, 0, ...state.steps.splice(i, 1)), null, i)),
    button('✕', 'delete this step', () => change(() => state.steps.splice(i, 1), null, i)));
  li.appendChild(head);
  if (step.image) {       // the agent's own step, unchanged: its picture and the policy's choice
    const row = document.createElement('div');
    row.className = 'agent-step';
    const img = document.createElement('img');
    img.src = step.image; img.title = "the agent's 64x64 view after this step";
    row.appendChild(img);
    row.appendChild(policyBars(step));
    li.appendChild(row);
  }
  const params = document.createElement('div');
  params.className = 'params' + (f.low.length > 3 ? ' curve' : '');
  f.param_names.forEach((label, j) => params.appendChild(slider(step, i, j, label, f)));
  li.appendChild(params);
  return li;
}

function policyBars(step) {
  const bars = document.createElement('div');
  bars.className = 'policy';
  bars.title = "the policy's probabilities of the filters at this step";
  const picked = state.session.filters.findIndex((f) => f.class === step.class);
  step.policy.forEach((p, k) => {
    const bar = document.createElement('span');
    bar.style.height = `${Math.max(10, 22 * p)}px`;
    bar.textContent = state.session.filters[k].short_name;
    bar.title = `${state.session.filters[k].name}: ${(100 * p).toFixed(1)}%`;
    if (k === picked) bar.className = 'picked';
    bars.appendChild(bar);
  });
  return bars;
}

function slider(step, i, j, label, f) {
  const row = document.createElement('label');
  row.className = 'param';
  const range = document.createElement('input');
  const number = document.createElement('input');
  range.type = 'range'; number.type = 'number';
  range.min = number.min = f.low[j]; range.max = number.max = f.high[j];
  range.step = (f.high[j] - f.low[j]) / 1000; number.step = 'any';
  range.value = number.value = +step.parameters[j].toFixed(4);
  range.dataset.step = number.dataset.step = i;
  range.dataset.param = number.dataset.param = j;
  const set = (value, source) => {
    const v = Math.min(f.high[j], Math.max(f.low[j], +value));
    if (!Number.isFinite(v)) return;
    change(() => { step.parameters[j] = v; }, `${i}/${j}`, i, true);
    number.value = +v.toFixed(4);
    if (source !== range) range.value = v;
  };
  range.oninput = () => set(range.value, range);
  number.onchange = () => set(number.value, number);
  const name = document.createElement('span');
  name.textContent = label;
  row.append(name, range, number);
  return row;
}

function renderDraws() {
  const box = $('draws');
  box.textContent = '';
  state.draws.forEach((draw) => {
    const d = document.createElement('div');
    d.className = 'draw' + (draw === state.chosen ? ' chosen' : '');
    const img = document.createElement('img');
    img.src = draw.result;
    d.append(img, `seed ${draw.seed}`);
    d.title = draw.steps.map((s) => s.label).join(' > ');
    d.onclick = () => { state.chosen = draw; state.game = false; $('game').classList.remove('on'); setSteps(fromDraw(draw)); renderDraws(); };
    box.appendChild(d);
  });
}

// ---------------------------------------------------------------------------------------------
// Photos

async function openPhoto(name) {
  state.name = name;
  state.draws = []; state.chosen = null;
  document.querySelectorAll('.thumb').forEach((t) => t.classList.toggle('current', t.dataset.name === name));
  status(`opening ${name}`);
  try {
    await drawInto($('before'), await api(`/api/before?name=${encodeURIComponent(name)}`));
    const saved = (await (await api(`/api/recipe?name=${encodeURIComponent(name)}`)).json()).recipe;
    if (state.session.model && !state.game) await anotherDraw(!saved);
    if (state.game) setSteps([]);
    else if (saved) setSteps(saved.map((s) => ({...s, enabled: true, policy: null, image: null})));
    else if (!state.session.model) setSteps([]);
    // The model's domain warning (domain.py), as evaluate.py prints it: the photo is unlike its training inputs.
    const warning = state.draws.length ? state.draws[0].warning : null;
    status((saved && !state.game ? `${name}: its saved recipe` : name) + (warning ? ` — warning: ${warning}` : ''));
  } catch (e) {
    status(e.message);
  }
  renderDraws();
}

async function anotherDraw(use) {
  const seed = state.draws.length ? Math.max(...state.draws.map((d) => d.seed)) + 1 : 0;
  status(`the agent is editing ${state.name} (seed ${seed})`);
  const draw = await (await api('/api/agent', {name: state.name, seed})).json();
  state.draws.push(draw);
  if (use) { state.chosen = draw; setSteps(fromDraw(draw)); }
  renderDraws();
  status(state.name);
}

function renderFilmstrip() {
  const strip = $('filmstrip');
  state.session.photos.forEach((name) => {
    const t = document.createElement('div');
    t.className = 'thumb'; t.dataset.name = name;
    const img = document.createElement('img');
    img.alt = name;
    img.src = `/api/thumbnail?name=${encodeURIComponent(name)}`;
    img.onerror = async () => {        // a file that cannot be read: say why, keep the others
      const why = document.createElement('div');
      why.className = 'error';
      try { await api(img.src); } catch (e) { why.textContent = e.message; }
      img.replaceWith(why);
    };
    const tick = document.createElement('input');
    tick.type = 'checkbox'; tick.title = 'select for "Apply to selected"';
    tick.onclick = (e) => e.stopPropagation();
    const label = document.createElement('div');
    label.className = 'name'; label.textContent = name;
    t.append(img, tick, label);
    t.onclick = () => openPhoto(name);
    strip.appendChild(t);
  });
}

async function saveOrExport(path, body, done) {
  status('working…');
  try {
    const reply = await (await api(path, {...recipeBody(), ...body})).json();
    status(done(reply));
  } catch (e) {
    status(e.message);
  }
}

async function start() {
  state.session = await (await api('/api/session')).json();
  $('model').textContent = state.session.model ? `model ${state.session.model}` : 'no model';
  $('agent').style.display = state.session.model ? '' : 'none';
  $('reset').disabled = !state.session.model;
  state.session.filters.forEach((f) => $('add-filter').add(new Option(f.name, f.class)));
  renderFilmstrip();
  document.querySelectorAll('input[name=mode]').forEach((r) => { r.onchange = showMode; });
  $('split').oninput = showMode;
  showMode();
  $('undo').onclick = () => restore(state.undo, state.redo);
  $('redo').onclick = () => restore(state.redo, state.undo);
  document.addEventListener('keydown', (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.target.type === 'number') return;
    if (e.key === 'z') { e.preventDefault(); restore(state.undo, state.redo); }
    if (e.key === 'y') { e.preventDefault(); restore(state.redo, state.undo); }
  });
  $('reset').onclick = () => { if (state.chosen) { state.game = false; $('game').classList.remove('on'); change(() => { state.steps = fromDraw(state.chosen); }); } };
  $('add-step').onclick = () => change(() => {
    const f = filterOf($('add-filter').value);
    state.steps.push({class: f.class, parameters: [...f.neutral], enabled: true, policy: null, image: null});
  });
  $('draw').onclick = () => anotherDraw(false).catch((e) => status(e.message));
  $('game').onclick = () => {
    state.game = !state.game;
    $('game').classList.toggle('on', state.game);
    setSteps(state.game ? [] : (state.chosen ? fromDraw(state.chosen) : []));
  };
  $('save').onclick = () => saveOrExport('/api/save', {name: state.name}, (r) => `saved ${r.recipe}`);
  $('export').onclick = () => saveOrExport('/api/export', {names: [state.name], format: $('format').value,
    lut: $('lut').checked}, (r) => `exported ${r.files.length} files: ${r.files.join(', ')}`);
  $('apply').onclick = () => {
    const names = [...document.querySelectorAll('.thumb')].filter((t) => t.querySelector('input').checked)
      .map((t) => t.dataset.name);
    if (!names.length) { status('tick the photos to apply this edit to in the filmstrip'); return; }
    saveOrExport('/api/export', {names, format: $('format').value, lut: $('lut').checked},
      (r) => `applied to ${names.length} photos: ${r.files.length} files written`);
  };
  if (state.session.photos.length) openPhoto(state.session.photos[0]);
}

start().catch((e) => status(e.message));
