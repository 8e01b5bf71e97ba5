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
      if (key === "j") done = click("[data-key=j]");
      else if (key === "k") done = click("[data-key=k]");
      else if (key === "a") done = click("#decision-panel button[value=approve]");
      else if (key === "r") done = focus("#decision-panel select[name=reason]") || focus("#decision-panel textarea");
      else if (key === "c") done = click("[data-comment-now]") || focus("#comment-form textarea");
      else if (key === "t") done = focus("#tags-panel input[name=name]");
      else if (key === " " && video()) { const v = video(); if (v.paused) v.play(); else v.pause(); done = true; }
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
  document.addEventListener("DOMContentLoaded", () => {
    placeLane();
    const v = video();
    if (v) {
      v.addEventListener("loadedmetadata", layoutLane);
      v.addEventListener("timeupdate", layoutLane);
    }
    layoutLane();
  });
  document.addEventListener("htmx:afterSwap", () => { placeLane(); layoutLane(); });
})();
