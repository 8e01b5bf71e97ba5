// Review pages: keyboard shortcuts (with a sheet on "?"), queue row selection, the comments
// lane under the video (click to seek) and the comment form's current-time buttons.
(function () {
  "use strict";

  function typing(event) {
    const el = event.target;
    return el.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function openSheet() {
    const sheet = document.getElementById("shortcuts");
    if (sheet && !sheet.open) sheet.showModal();
  }

  // --- queue rows ------------------------------------------------------------------------
  function rows() { return Array.from(document.querySelectorAll("tr[data-row]")); }
  function selected() { return document.querySelector("tr[data-row].selected"); }
  function select(row) {
    rows().forEach((r) => r.classList.remove("selected"));
    if (row) { row.classList.add("selected"); row.scrollIntoView({ block: "nearest" }); }
  }
  function move(step) {
    const all = rows();
    if (!all.length) return false;
    const index = all.indexOf(selected());
    select(all[Math.max(0, Math.min(all.length - 1, index + step))] || all[0]);
    return true;
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-shortcuts-open]")) { openSheet(); return; }
    const tickAll = event.target.closest("[data-tick-all]");
    if (tickAll) {
      document.querySelectorAll("tr[data-row] input[name=clips]").forEach((box) => { box.checked = tickAll.checked; });
      return;
    }
    const row = event.target.closest("tr[data-row]");
    if (row && !event.target.closest("a, input, button, label")) {
      window.location.href = row.dataset.href;
    }
  });

  // --- clip page ---------------------------------------------------------------------------
  function video() { return document.querySelector("video"); }
  function click(selector) {
    const el = document.querySelector(selector);
    if (el) { el.click(); return true; }
    return false;
  }
  function focus(selector) {
    const el = document.querySelector(selector);
    if (el) { el.focus(); return true; }
    return false;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    const key = event.key;
    let done = false;
    if (key === "?") { openSheet(); done = true; }
    else if (rows().length) {
      if (key === "j") done = move(1);
      else if (key === "k") done = move(-1);
      else if ((key === "Enter" || key === "o") && selected()) { window.location.href = selected().dataset.href; done = true; }
      else if (key === "x" && selected()) {
        const box = selected().querySelector("input[name=clips]");
        if (box) { box.checked = !box.checked; done = true; }
      }
    } else {
      // The player owns the playback keys (J/K/L, Space, I/O/X, comma and full stop) where
      // there is one; next and previous clip are N and P on the clip page.
      const player = document.querySelector("[data-player]");
      if (key === "n") done = click("[data-key=j]");
      else if (key === "p") done = click("[data-key=k]");
      else if (!player && key === "j") done = click("[data-key=j]");
      else if (!player && key === "k") done = click("[data-key=k]");
      else if (key === "a") done = click("#decision-panel button[value=approve]");
      else if (key === "r") done = focus("#decision-panel select[name=reason]") || focus("#decision-panel textarea");
      else if (key === "c") done = click("[data-comment-now]") || focus("#comment-form textarea");
      else if (key === "t") done = focus("#tags-panel input[name=name]");
      else if (key === " " && !player && video()) { const v = video(); if (v.paused) v.play(); else v.pause(); done = true; }
    }
    if (done) event.preventDefault();
  });

  // --- comments lane: markers at each comment's time; click seeks the page's video ---------
  function fps() {
    const lane = document.querySelector("[data-comments-lane]");
    return lane ? parseFloat(lane.dataset.fps) || 25 : 25;
  }
  function timecode(seconds) {
    const rate = fps();
    const frames = Math.round(seconds * rate);
    const ff = frames % Math.round(rate);
    const total = Math.floor(frames / Math.round(rate));
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(Math.floor(total / 3600))}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}:${pad(ff)}`;
  }
  function seek(seconds) {
    const v = video();
    if (!v) return;
    v.pause();
    v.currentTime = seconds;
  }
  function layoutLane() {
    const lane = document.querySelector("[data-comments-lane]");
    const v = video();
    if (!lane) return;
    const duration = (v && isFinite(v.duration) && v.duration) || parseFloat(lane.dataset.duration) || 0;
    if (!duration) return;
    lane.querySelectorAll("[data-at]").forEach((marker) => {
      const start = parseFloat(marker.dataset.at);
      const end = marker.dataset.end ? parseFloat(marker.dataset.end) : null;
      marker.style.left = `${(100 * start) / duration}%`;
      if (end !== null) marker.style.width = `${Math.max(0.8, (100 * (end - start)) / duration)}%`;
    });
    const head = lane.querySelector(".lane-head");
    if (head && v) head.style.left = `${(100 * v.currentTime) / duration}%`;
  }
  document.addEventListener("click", (event) => {
    const seekTo = event.target.closest("[data-seek]");
    if (seekTo) { event.preventDefault(); seek(parseFloat(seekTo.dataset.seek)); return; }
    const now = event.target.closest("[data-comment-now]");
    if (now) {
      const v = video();
      const t = v ? v.currentTime : 0;
      if (v) v.pause();
      const form = document.getElementById("comment-form");
      if (!form) return;
      const field = form.querySelector(now.dataset.commentNow === "end" ? "[name=end_s]" : "[name=at_s]");
      field.value = t.toFixed(3);
      const label = form.querySelector(now.dataset.commentNow === "end" ? "[data-end-label]" : "[data-at-label]");
      if (label) label.textContent = timecode(t);
      form.querySelector("textarea").focus();
    }
  });
  // The lane is rendered in the comments panel (so it works without JS as a list of links)
  // and moved right under the page's <video>, wherever the player markup puts it.
  function placeLane() {
    const v = video();
    const fresh = document.querySelector("#comments-panel [data-comments-lane]");
    if (!v || !fresh) return;
    const placed = document.querySelector("[data-comments-lane].placed");
    fresh.classList.add("placed");
    if (placed && placed !== fresh) placed.replaceWith(fresh);
    else v.insertAdjacentElement("afterend", fresh);
  }

  // --- drawing on the paused frame: a canvas laid over the video -------------------------
  // Shapes are stored as fractions of the frame, so they fit any player size.
  let layer = null;
  let shapes = [];
  let drawing = false;
  let current = null;
  let showing = [];

  function ensureLayer() {
    const v = video();
    if (!v) return null;
    if (!layer) {
      layer = document.createElement("canvas");
      layer.className = "draw-layer";
      layer.dataset.testid = "draw-layer";
      document.body.appendChild(layer);
      layer.addEventListener("pointerdown", penDown);
      layer.addEventListener("pointermove", penMove);
      window.addEventListener("pointerup", penUp);
      window.addEventListener("resize", placeLayer);
      window.addEventListener("scroll", placeLayer, { passive: true });
    }
    placeLayer();
    return layer;
  }
  function placeLayer() {
    const v = video();
    if (!v || !layer) return;
    const box = v.getBoundingClientRect();
    // Leave the native controls usable: the layer stops above them while not drawing.
    const controls = drawing ? 0 : 48;
    layer.style.left = `${box.left + window.scrollX}px`;
    layer.style.top = `${box.top + window.scrollY}px`;
    layer.style.width = `${box.width}px`;
    layer.style.height = `${Math.max(0, box.height - controls)}px`;
    layer.width = Math.round(box.width);
    layer.height = Math.round(Math.max(0, box.height - controls));
    paint();
  }
  function point(event) {
    const box = layer.getBoundingClientRect();
    const clamp = (n) => Math.min(1, Math.max(0, n));
    return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
  }
  function kind() {
    const checked = document.querySelector("#comment-form input[name=draw-kind]:checked");
    return checked ? checked.value : "pen";
  }
  function penDown(event) {
    if (!drawing) return;
    event.preventDefault();
    layer.setPointerCapture(event.pointerId);
    current = { kind: kind(), colour: "#e53e3e", points: [point(event)] };
  }
  function penMove(event) {
    if (!drawing || !current) return;
    const p = point(event);
    if (current.kind === "arrow") current.points[1] = p;
    else if (current.points.length < 500) current.points.push(p);
    paint();
  }
  function penUp() {
    if (!current) return;
    if (current.points.length >= 2) shapes.push(current);
    current = null;
    saveShapes();
    paint();
  }
  function saveShapes() {
    const field = document.querySelector("#comment-form input[name=drawing]");
    if (field) field.value = shapes.length ? JSON.stringify(shapes) : "";
  }
  function stroke(ctx, shape) {
    const w = layer.width;
    const h = layer.height;
    const pts = shape.points.map(([x, y]) => [x * w, y * h]);
    ctx.strokeStyle = shape.colour || "#e53e3e";
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = Math.max(2, w / 240);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    if (shape.kind === "arrow" && pts.length === 2) {
      const [[x0, y0], [x1, y1]] = pts;
      const angle = Math.atan2(y1 - y0, x1 - x0);
      const head = Math.max(10, w / 50);
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
      ctx.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
      ctx.closePath();
      ctx.fill();
    }
  }
  function paint() {
    if (!layer) return;
    const ctx = layer.getContext("2d");
    ctx.clearRect(0, 0, layer.width, layer.height);
    const all = drawing ? [...shapes, ...(current ? [current] : [])] : showing;
    all.forEach((shape) => stroke(ctx, shape));
  }
  function setDrawing(on) {
    const v = video();
    drawing = on && !!v;
    if (drawing) {
      v.pause();
      // The frame to draw on must be on screen (the comment form may be further down).
      v.scrollIntoView({ block: "nearest" });
      // A drawing belongs to the frame on screen: the comment is placed there.
      const start = document.querySelector("[data-comment-now=start]");
      const at = document.querySelector("#comment-form input[name=at_s]");
      if (start && at && !at.value) start.click();
    }
    ensureLayer();
    if (layer) layer.classList.toggle("active", drawing);
    const toggle = document.querySelector("[data-draw-toggle]");
    if (toggle) toggle.classList.toggle("on", drawing);
    placeLayer();
  }
  // Show the drawings of the comments on the frame the paused video shows.
  function showDrawingsAt() {
    const v = video();
    if (!v || drawing) return;
    const rate = fps();
    const t = v.currentTime;
    showing = [];
    if (v.paused) {
      document.querySelectorAll("[data-comments-lane] [data-drawing]").forEach((marker) => {
        const start = parseFloat(marker.dataset.at);
        const end = marker.dataset.end ? parseFloat(marker.dataset.end) : start + 1 / rate;
        if (t >= start - 1e-3 && t < end) showing.push(...JSON.parse(marker.dataset.drawing));
      });
    }
    if (showing.length) ensureLayer();
    paint();
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-draw-toggle]")) { setDrawing(!drawing); return; }
    if (event.target.closest("[data-draw-clear]")) { shapes = []; saveShapes(); paint(); }
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.target && event.target.id === "comments-panel") {
      shapes = [];
      setDrawing(false);
    }
    showDrawingsAt();
  });

  // --- compare: two videos played and sought together, sound per side ---------------------
  function setupCompare() {
    const root = document.querySelector("[data-compare]");
    if (!root) return;
    const videos = Array.from(root.querySelectorAll("[data-compare-video]"));
    const play = document.querySelector("[data-compare-play]");
    const seekBar = document.querySelector("[data-compare-seek]");
    const time = document.querySelector("[data-compare-time]");
    const longest = () => Math.max(...videos.map((v) => (isFinite(v.duration) ? v.duration : 0)));
    const master = () => videos.reduce((a, b) => ((b.duration || 0) > (a.duration || 0) ? b : a));
    function seekAll(t) {
      videos.forEach((v) => { v.currentTime = Math.min(t, Math.max(0, (v.duration || t) - 0.001)); });
    }
    play.addEventListener("click", () => {
      const paused = videos.every((v) => v.paused);
      if (paused) {
        if (master().ended) seekAll(0);
        videos.forEach((v) => v.play());
      } else videos.forEach((v) => v.pause());
    });
    videos.forEach((v) => {
      v.addEventListener("play", () => { play.textContent = "❚❚ Pause both"; });
      v.addEventListener("pause", () => { if (videos.every((x) => x.paused)) play.textContent = "▶ Play both"; });
      v.addEventListener("timeupdate", () => {
        if (v !== master()) return;
        const total = longest();
        if (total) seekBar.value = Math.round((1000 * v.currentTime) / total);
        time.textContent = timecode(v.currentTime);
        // Keep the other side within a frame or two of the leading one.
        videos.forEach((o) => {
          if (o !== v && !o.ended && Math.abs(o.currentTime - v.currentTime) > 0.08 && v.currentTime < (o.duration || 0)) {
            o.currentTime = v.currentTime;
          }
        });
      });
    });
    seekBar.addEventListener("input", () => {
      const t = (seekBar.value / 1000) * longest();
      seekAll(t);
      time.textContent = timecode(t);
    });
    root.querySelectorAll("[data-audio-toggle]").forEach((button) => {
      button.addEventListener("click", () => {
        const v = button.closest(".compare-side").querySelector("video");
        v.muted = !v.muted;
        button.classList.toggle("on", !v.muted);
        button.setAttribute("aria-pressed", String(!v.muted));
        button.textContent = v.muted ? "Sound off" : "Sound on";
      });
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    setupCompare();
    placeLane();
    const v = video();
    if (v) {
      v.addEventListener("loadedmetadata", layoutLane);
      v.addEventListener("timeupdate", layoutLane);
      ["seeked", "pause", "play"].forEach((name) => v.addEventListener(name, showDrawingsAt));
    }
    layoutLane();
  });
  document.addEventListener("htmx:afterSwap", () => { placeLane(); layoutLane(); });
})();
