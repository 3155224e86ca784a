// The profile page: draws a user's interests as SVG bubbles, lists concepts, likes and
// recommendations, and sends like/dislike and pin/mute to the API, then redraws.
// Every piece of data is inserted with textContent: titles and concept names are never parsed as HTML.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const userId = decodeURIComponent(location.pathname.split("/").pop());
  const api = "/v1/users/" + encodeURIComponent(userId);
  const $ = (id) => document.getElementById(id);

  // A key given as #key=... (never sent to the server in the address) is kept for this tab only.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    sessionStorage.setItem("interestlm-key", fromHash);
    history.replaceState(null, "", location.pathname);
  }
  $("api-key").value = sessionStorage.getItem("interestlm-key") || "";
  $("api-key").addEventListener("change", (e) => sessionStorage.setItem("interestlm-key", e.target.value.trim()));

  function headers(json) {
    const h = {};
    const key = $("api-key").value.trim();
    if (key) h.Authorization = "Bearer " + key;
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  async function call(method, path, body) {
    const res = await fetch(path, {
      method: method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(res.status + ": " + (data.detail || res.statusText));
    return data;
  }

  function status(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function button(label, action, attrs) {
    const b = el("button", label);
    b.type = "button";
    for (const [k, v] of Object.entries(attrs || {})) b.setAttribute(k, v);
    b.addEventListener("click", () => act(action));
    return b;
  }

  // Profile JSON pieces come as [name, weight] pairs or objects; items as objects or ids.
  const pair = (c) => (Array.isArray(c) ? { name: String(c[0]), weight: Number(c[1]) } : { name: String(c.name), weight: Number(c.weight) });
  const item = (x) => (typeof x === "object" && x !== null ? { id: String(x.item_id), title: String(x.title || x.item_id) } : { id: String(x), title: String(x) });

  async function act(action) {
    try {
      status("saving...");
      await action();
      await draw();
    } catch (err) {
      status(String(err.message || err), true);
    }
  }

  const feedback = (itemId, kind) => () => call("POST", api + "/events", { item_id: itemId, kind: kind }).then(() => status(kind + "d " + itemId));
  const edit = (body, what) => () => call("PATCH", api + "/profile", body).then(() => status(what));

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clip(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "\u2026" : text;
  }

  function drawBubbles(profile) {
    const root = $("bubbles");
    root.replaceChildren();
    const W = 760, H = 480, cx = W / 2, cy = H / 2;
    // Sizes follow the weights ranking uses: after the user's own reweighting (0 hides one).
    const shown = (i) => Number(i.effective_weight ?? i.weight);
    const interests = (profile.interests || []).filter((i) => shown(i) > 0);
    const pinned = new Set(((profile.edits || {}).pinned) || []);
    const muted = new Set(((profile.edits || {}).muted) || []);
    // The concept neighbourhood: the user's strongest signed concepts plus what to explore next.
    const concepts = (profile.concepts || []).map(pair).slice(0, 12);
    const explore = (profile.explore || []).map(pair).slice(0, 6).map((c) => ({ ...c, explore: true }));
    const ring = concepts.concat(explore);
    const placed = new Map();
    ring.forEach((c, j) => {
      const a = (2 * Math.PI * j) / Math.max(ring.length, 1) - Math.PI / 2;
      placed.set(c.name, { x: cx + 300 * Math.cos(a), y: cy + 195 * Math.sin(a), c: c });
    });
    const inner = interests.map((it, j) => {
      const a = (2 * Math.PI * j) / Math.max(interests.length, 1) - Math.PI / 2;
      const d = interests.length > 1 ? 110 : 0;
      return { x: cx + d * 1.5 * Math.cos(a), y: cy + d * Math.sin(a), r: 18 + 62 * Math.sqrt(shown(it)), it: it };
    });
    const edges = svg("g", { class: "edges" });
    inner.forEach((b) => {
      for (const c of (b.it.concepts || []).map(pair)) {
        const p = placed.get(c.name);
        if (p) edges.append(svg("line", { x1: b.x, y1: b.y, x2: p.x, y2: p.y, stroke: "#b8c4d6", "stroke-width": 1 + 2 * Math.min(1, Math.abs(c.weight)) }));
      }
    });
    root.append(edges);
    for (const p of placed.values()) {
      const c = p.c;
      const fill = pinned.has(c.name) ? "#f2c94c" : c.explore ? "#ffffff" : c.weight < 0 ? "#e57373" : "#6cc08b";
      const g = svg("g", { class: "concept-bubble", "data-concept": c.name });
      g.append(svg("circle", { cx: p.x, cy: p.y, r: 9 + 14 * Math.min(1, Math.abs(c.weight)), fill: fill,
        stroke: c.explore ? "#888" : "#fff", "stroke-dasharray": c.explore ? "3 2" : "none", opacity: muted.has(c.name) ? 0.3 : 0.9 }));
      g.append(svg("text", { x: p.x, y: p.y + 30, "text-anchor": "middle" }, clip(c.name, 22)));
      root.append(g);
    }
    inner.forEach((b, j) => {
      const g = svg("g", { class: "interest-bubble", "data-index": j });
      g.append(svg("circle", { cx: b.x, cy: b.y, r: b.r, fill: "#7aa6e6", "fill-opacity": 0.8, stroke: "#3d6fb8" }));
      g.append(svg("text", { x: b.x, y: b.y - 2, "text-anchor": "middle", class: "interest-label" }, clip(String(b.it.label || "interest " + (j + 1)), 26)));
      g.append(svg("text", { x: b.x, y: b.y + 14, "text-anchor": "middle" }, Math.round(100 * shown(b.it)) + "%"));
      root.append(g);
    });
    if (!inner.length) root.append(svg("text", { x: cx, y: cy, "text-anchor": "middle" }, "No interests yet: like a few items."));
  }

  function drawConcepts(profile) {
    const edits = profile.edits || {};
    const pinned = new Set(edits.pinned || []), muted = new Set(edits.muted || []);
    const list = (target, entries) => {
      $(target).replaceChildren();
      for (const c of entries) {
        const li = el("li", c.name);
        li.dataset.concept = c.name;
        li.append(el("span", c.weight.toFixed(2), "weight"));
        if (!pinned.has(c.name)) li.append(button("pin", edit({ pin: [c.name] }, "pinned " + c.name), { "data-action": "pin" }));
        if (!muted.has(c.name)) li.append(button("mute", edit({ mute: [c.name] }, "muted " + c.name), { "data-action": "mute" }));
        $(target).append(li);
      }
    };
    // The user's strongest concepts, plus the top concepts of each interest cluster (what its label names).
    const shown = (profile.concepts || []).map(pair).slice(0, 15);
    const names = new Set(shown.map((c) => c.name));
    for (const it of profile.interests || []) {
      for (const c of (it.concepts || []).map(pair).slice(0, 3)) {
        if (!names.has(c.name)) { names.add(c.name); shown.push(c); }
      }
    }
    list("concepts", shown);
    list("explore", (profile.explore || []).map(pair).slice(0, 8));
    $("edits").replaceChildren();
    for (const name of pinned) {
      const li = el("li", "pinned: " + name, "pinned");
      li.dataset.concept = name;
      li.append(button("unpin", edit({ unpin: [name] }, "unpinned " + name), { "data-action": "unpin" }));
      $("edits").append(li);
    }
    for (const name of muted) {
      const li = el("li", "muted: " + name, "muted");
      li.dataset.concept = name;
      li.append(button("unmute", edit({ unmute: [name] }, "unmuted " + name), { "data-action": "unmute" }));
      $("edits").append(li);
    }
  }

  function drawItems(target, entries) {
    $(target).replaceChildren();
    for (const x of entries.map(item).slice(0, 12)) {
      const li = el("li", x.title);
      li.dataset.itemId = x.id;
      $(target).append(li);
    }
  }

  // Pictures need the key like every read, so they are fetched and shown from a blob: URL.
  async function picture(path) {
    try {
      const res = await fetch(path, { headers: headers(false) });
      if (!res.ok) return null;
      return URL.createObjectURL(await res.blob());
    } catch (e) {
      return null;
    }
  }

  function drawRecommendations(recs) {
    const ol = $("recommendations");
    ol.replaceChildren();
    for (const r of recs.recommendations) {
      const li = el("li");
      li.dataset.itemId = r.item_id;
      if (r.image) {
        const img = el("img", "", "poster");
        img.alt = "";
        li.append(img);
        picture(r.image).then((url) => (url ? (img.src = url) : img.remove()));
      }
      li.append(el("strong", r.title), el("span", " " + Number(r.score).toFixed(3), "score"));
      li.append(button("like", feedback(r.item_id, "like"), { "data-action": "like" }));
      li.append(button("dislike", feedback(r.item_id, "dislike"), { "data-action": "dislike" }));
      if (r.explanation) li.append(el("div", r.explanation, "why"));
      ol.append(li);
    }
  }

  async function draw() {
    const [profile, recs] = await Promise.all([call("GET", api + "/profile"), call("GET", api + "/recommendations?k=10")]);
    $("user-id").textContent = userId;
    $("summary").textContent = profile.summary || "";
    drawBubbles(profile);
    drawConcepts(profile);
    drawItems("likes", profile.likes || []);
    drawItems("dislikes", profile.dislikes || []);
    drawRecommendations(recs);
    document.body.dataset.ready = String(Number(document.body.dataset.ready || 0) + 1);
  }

  act(async () => {}).then(() => { if (!$("status").classList.contains("error")) status(""); });
})();
