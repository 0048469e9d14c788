// sdpic viewer: upload a photo, show two results side by side with a draggable split, zoom and pan.
"use strict";

const $ = (id) => document.getElementById(id);
const LABELS = { original: "original", sdpic: "sdpic", avif: "AVIF", jpeg: "JPEG" };

const state = {
  file: null, result: null, limits: null,
  split: 0.5,               // divider position, fraction of the viewer width
  scale: 1, tx: 0, ty: 0,   // image -> viewer transform
  width: 0, height: 0,      // image size in pixels
};

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text, busy = false) {
  $("status").textContent = text;
  $("status").classList.toggle("busy", busy);
}

function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1000).toFixed(1)} KB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}

function fixed(value, digits) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

// ---- upload and analysis --------------------------------------------------------------------------

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  $("run").disabled = false;
  $("file").nextElementSibling.textContent = file.name;
  analyse();
}

async function analyse() {
  if (!state.file) return;
  showError("");
  if (state.limits && state.file.size > state.limits.max_upload_bytes) {
    showError(`The file is ${formatBytes(state.file.size)}; the limit is ${formatBytes(state.limits.max_upload_bytes)}.`);
    return;
  }
  const params = new URLSearchParams();
  if ($("modeSize").checked) {
    const kb = parseFloat($("targetKb").value);
    if (!(kb > 0)) { showError("Enter a target size in KB."); return; }
    params.set("target_bytes", String(Math.round(kb * 1000)));
  } else {
    params.set("quality", $("quality").value);
  }
  params.set("saliency", $("useSaliency").checked ? "1" : "0");
  if (!$("realismControl").hidden) params.set("realism", $("realism").value);
  document.body.dataset.state = "busy";
  $("run").disabled = true;
  setStatus("Compressing with sdpic, then AVIF and JPEG at the same file size…", true);
  try {
    const response = await fetch(`/api/analyse?${params}`, {
      method: "POST", body: state.file,
      headers: { "Content-Type": state.file.type || "application/octet-stream" },
    });
    let body;
    try { body = await response.json(); } catch { body = { error: `server answered ${response.status}` }; }
    if (!response.ok) throw new Error(body.error || `server answered ${response.status}`);
    await render(body);
    document.body.dataset.state = "done";
  } catch (err) {
    document.body.dataset.state = "error";
    setStatus("");
    showError(err.message === "Failed to fetch" ? "The viewer server is not reachable." : err.message);
  } finally {
    $("run").disabled = !state.file;
  }
}

function fillSelect(select, names, chosen) {
  select.replaceChildren(...names.map((name) => new Option(LABELS[name] || name, name, false, name === chosen)));
}

function imageUrl(name) {
  return state.result.files[`${name === "original" ? "original" : name}.png`];
}

function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error(`could not load ${url}`));
    img.src = url;
  });
}

async function render(result) {
  state.result = result;
  state.width = result.width;
  state.height = result.height;
  const names = ["original", ...Object.keys(result.codecs)];
  fillSelect($("leftSel"), names, names.includes("jpeg") ? "jpeg" : "original");
  fillSelect($("rightSel"), names, "sdpic");
  $("compare").hidden = false;
  await Promise.all([showSide("A"), showSide("B"), loadImage($("imgSal"), result.files["saliency.png"])]);
  fillMetrics(result);
  $("dlSdpic").href = result.files["photo.sdpic"];
  $("dlPng").href = result.files["decoded.png"];
  $("notes").textContent = result.notes.join(" ");
  zoomFit();
  setStatus(`${result.width}×${result.height} ${result.original_format}, done in ${result.seconds.toFixed(1)} s.`);
}

async function showSide(side) {
  const name = $(side === "A" ? "leftSel" : "rightSel").value;
  $(`tag${side}`).textContent = LABELS[name] || name;
  await loadImage($(`img${side}`), imageUrl(name));
}

function fillMetrics(result) {
  const pixels = result.width * result.height;
  const rows = [{ name: "original", setting: result.original_format, bytes: result.original_bytes,
                  bpp: result.original_bytes * 8 / pixels, psnr: null, lpips_alex: null, note: "" }];
  for (const [name, r] of Object.entries(result.codecs)) rows.push({ ...r, name });
  // the row in bold: the codec whose image is closest to the original by LPIPS-Alex (lower is better)
  const coded = rows.slice(1).filter((r) => r.lpips_alex !== null);
  const best = coded.length ? coded.reduce((a, b) => (b.lpips_alex < a.lpips_alex ? b : a)).name : null;
  $("metrics").tBodies[0].replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.codec = r.name;
    if (r.name === best) tr.className = "best";
    const cells = [
      ["codec", LABELS[r.name] || r.name], ["setting", r.setting], ["bytes", formatBytes(r.bytes)],
      ["bpp", fixed(r.bpp, 3)], ["psnr", fixed(r.psnr, 2)], ["lpips_alex", fixed(r.lpips_alex, 4)],
      ["note", r.note || ""],
    ];
    for (const [cls, text] of cells) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      if (cls === "bytes") td.title = `${r.bytes} bytes`;
      tr.append(td);
    }
    return tr;
  }));
}

// ---- comparison view: split, zoom, pan ------------------------------------------------------------

function apply() {
  const viewer = $("viewer");
  const transform = `translate(${state.tx}px, ${state.ty}px) scale(${state.scale})`;
  for (const stage of viewer.querySelectorAll(".stage")) stage.style.transform = transform;
  const x = state.split * viewer.clientWidth;
  $("layerB").style.clipPath = `inset(0 0 0 ${x}px)`;
  $("divider").style.left = `${x}px`;
  $("divider").setAttribute("aria-valuenow", String(Math.round(state.split * 100)));
  $("zoomValue").textContent = `${Math.round(state.scale * 100)}%`;
  viewer.classList.toggle("pixels", state.scale >= 2);
}

function zoomAt(scale, cx, cy) {
  scale = Math.min(32, Math.max(0.05, scale));
  state.tx = cx - (cx - state.tx) * (scale / state.scale);
  state.ty = cy - (cy - state.ty) * (scale / state.scale);
  state.scale = scale;
  apply();
}

function zoomCentered(scale) {
  const v = $("viewer");
  zoomAt(scale, v.clientWidth / 2, v.clientHeight / 2);
}

function zoomFit() {
  const v = $("viewer");
  if (!state.width) return;
  state.scale = Math.min(v.clientWidth / state.width, v.clientHeight / state.height);
  state.tx = (v.clientWidth - state.width * state.scale) / 2;
  state.ty = (v.clientHeight - state.height * state.scale) / 2;
  apply();
}

function zoomOneToOne() {
  const v = $("viewer");
  state.scale = 1;
  state.tx = (v.clientWidth - state.width) / 2;
  state.ty = (v.clientHeight - state.height) / 2;
  apply();
}

function setupViewer() {
  const viewer = $("viewer");
  const divider = $("divider");

  divider.addEventListener("pointerdown", (e) => {
    e.stopPropagation();
    divider.setPointerCapture(e.pointerId);
    const move = (ev) => {
      const rect = viewer.getBoundingClientRect();
      state.split = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
      apply();
    };
    move(e);
    divider.onpointermove = move;
    divider.onpointerup = () => { divider.onpointermove = null; };
  });
  divider.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: -0.02, ArrowRight: 0.02 }[e.key];
    if (step) { state.split = Math.min(1, Math.max(0, state.split + step)); apply(); e.preventDefault(); }
  });

  viewer.addEventListener("pointerdown", (e) => {
    viewer.setPointerCapture(e.pointerId);
    viewer.classList.add("panning");
    let lastX = e.clientX, lastY = e.clientY;
    viewer.onpointermove = (ev) => {
      state.tx += ev.clientX - lastX;
      state.ty += ev.clientY - lastY;
      lastX = ev.clientX; lastY = ev.clientY;
      apply();
    };
    viewer.onpointerup = () => { viewer.onpointermove = null; viewer.classList.remove("panning"); };
  });
  viewer.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = viewer.getBoundingClientRect();
    zoomAt(state.scale * Math.exp(-e.deltaY * 0.0015), e.clientX - rect.left, e.clientY - rect.top);
  }, { passive: false });

  $("zoomFit").onclick = zoomFit;
  $("zoom1").onclick = zoomOneToOne;
  $("zoomIn").onclick = () => zoomCentered(state.scale * 1.5);
  $("zoomOut").onclick = () => zoomCentered(state.scale / 1.5);
  $("salToggle").onchange = () => { $("layerSal").hidden = !$("salToggle").checked; };
  $("leftSel").onchange = () => showSide("A");
  $("rightSel").onchange = () => showSide("B");
  window.addEventListener("resize", apply);
}

// ---- page wiring ----------------------------------------------------------------------------------

function setupControls() {
  $("file").addEventListener("change", () => chooseFile($("file").files[0]));
  $("controls").addEventListener("submit", (e) => { e.preventDefault(); analyse(); });
  $("quality").addEventListener("input", () => {
    $("qualityValue").textContent = $("quality").value;
    $("modeQuality").checked = true;
  });
  $("targetKb").addEventListener("input", () => { $("modeSize").checked = true; });

  let depth = 0;
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; $("dropHint").hidden = false; });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; $("dropHint").hidden = true; } });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    $("dropHint").hidden = true;
    chooseFile(e.dataTransfer.files[0]);
  });
}

// ---- realism: decode the same sdpic file again -----------------------------------------------------

async function redecode() {
  if (!state.result) return;
  const realism = $("realism").value;
  setStatus(`Decoding at realism ${realism}…`, true);
  try {
    const response = await fetch(`/api/realism/${state.result.id}?realism=${realism}`, { method: "POST" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `server error ${response.status}`);
    state.result = body;
    await Promise.all([showSide("A"), showSide("B")]);
    fillMetrics(body);
    $("dlPng").href = body.files["decoded.png"];
    setStatus(`Decoded at realism ${realism}.`);
  } catch (err) {
    showError(err.message);
  }
}

function setupRealism(choice) {
  if (!choice || !choice.available) return;
  $("realismControl").hidden = false;
  $("realism").value = String(choice.default);
  $("realismValue").textContent = String(choice.default);
  $("realism").addEventListener("input", () => { $("realismValue").textContent = $("realism").value; });
  $("realism").addEventListener("change", redecode);
}

async function loadLimits() {
  try {
    const info = await (await fetch("/api/info")).json();
    state.limits = info;
    setupRealism(info.realism);
    $("limits").textContent = `Up to ${formatBytes(info.max_upload_bytes)} and ${(info.max_pixels / 1e6).toFixed(1)} MP; ` +
      `model ${info.model}.`;
  } catch {
    showError("The viewer server is not reachable.");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupControls();
  setupViewer();
  loadLimits();
  document.body.dataset.state = "idle";
});
