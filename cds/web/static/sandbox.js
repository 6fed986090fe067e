/* The /sandbox page: builds a CDS Hooks request, calls the REAL endpoints
 * (POST /cds-services/{id}, POST /explain/{id}, POST /cds-services/{id}/feedback) and shows the
 * cards as an EHR would, with the "why" behind each. No libraries, no network beyond this origin.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("sandbox-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var lastPaste = null; // {kind: "bundle"|"request"|"invalid", value}

  // ------------------------------------------------------------------------------------------
  // Safe Markdown: escape ALL HTML first, then paragraphs, lists, **bold**, *italic*, `code`
  // and [links](http(s) only). Anything else stays literal text.
  // ------------------------------------------------------------------------------------------
  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function inline(escaped) {
    // `code` first, kept away from the other rules by placeholders.
    var codes = [];
    var out = escaped.replace(/`([^`]+)`/g, function (_, code) {
      codes.push("<code>" + code + "</code>");
      return "\u0000" + (codes.length - 1) + "\u0000";
    });
    out = out.replace(/\[([^\]]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)/g, function (whole, label, url) {
      // url is already escaped (no quotes or angle brackets left); only http(s) becomes a link.
      if (!/^https?:\/\/[^\s]+$/i.test(url)) { return label; }
      return '<a href="' + url + '" target="_blank" rel="noopener noreferrer">' + label + "</a>";
    });
    out = out.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
    out = out.replace(/__([^_]+)__/g, "<strong>$1</strong>");
    out = out.replace(/(^|[^*\w])\*([^*\s][^*]*?)\*(?!\w)/g, "$1<em>$2</em>");
    out = out.replace(/(^|[^_\w])_([^_\s][^_]*?)_(?!\w)/g, "$1<em>$2</em>");
    return out.replace(/\u0000(\d+)\u0000/g, function (_, i) { return codes[Number(i)]; });
  }

  function renderMarkdown(text) {
    var lines = escapeHtml(text || "").replace(/\r\n?/g, "\n").split("\n");
    var html = [];
    var para = [];
    var list = null; // {tag, items: [string]}
    function flushPara() {
      if (para.length) { html.push("<p>" + inline(para.join(" ")) + "</p>"); }
      para = [];
    }
    function flushList() {
      if (list) {
        html.push("<" + list.tag + ">" + list.items.map(function (item) {
          return "<li>" + inline(item) + "</li>";
        }).join("") + "</" + list.tag + ">");
      }
      list = null;
    }
    lines.forEach(function (line) {
      var bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      var numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (!line.trim()) { flushPara(); flushList(); return; }
      if (bullet || numbered) {
        var tag = bullet ? "ul" : "ol";
        flushPara();
        if (list && list.tag !== tag) { flushList(); }
        if (!list) { list = {tag: tag, items: []}; }
        list.items.push((bullet || numbered)[1]);
        return;
      }
      if (list && /^\s+\S/.test(line)) { // continuation of a list item
        list.items[list.items.length - 1] += " " + line.trim();
        return;
      }
      flushList();
      para.push(line.trim());
    });
    flushPara();
    flushList();
    return html.join("\n");
  }

  // ------------------------------------------------------------------------------------------
  // Small DOM helpers (text always goes in through textContent)
  // ------------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key === "className") { node.className = attrs[key]; }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      if (child) { node.appendChild(typeof child === "string" ? document.createTextNode(child) : child); }
    });
    return node;
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  function setStatus(text, kind) {
    var status = $("sb-status");
    status.textContent = text;
    status.className = "sb-status" + (kind ? " sb-status-" + kind : "");
  }

  function showError(text) {
    var box = $("sb-error");
    box.textContent = text;
    box.hidden = !text;
  }

  function noteAuthHeader(response) {
    var warning = response.headers.get("X-CDS-Auth-Warning");
    if (warning) {
      $("auth-warning-text").textContent = warning;
      $("auth-warning").hidden = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Choosing the patient, hook and draft order
  // ------------------------------------------------------------------------------------------
  function sampleByName(name) {
    return config.samples.filter(function (s) { return s.name === name; })[0] || null;
  }

  function source() {
    return document.querySelector("input[name=source]:checked").value;
  }

  function draftsOfBundle(bundle) {
    return (bundle.entry || []).map(function (e) { return e && e.resource; }).filter(function (r) {
      return r && (r.resourceType === "MedicationRequest" || r.resourceType === "ServiceRequest") &&
        r.status === "draft";
    }).map(function (r) {
      var concept = r.medicationCodeableConcept || r.code || {};
      var name = concept.text || ((concept.coding || [])[0] || {}).display || r.resourceType + "/" + r.id;
      return {key: "bundle:" + r.resourceType + "/" + r.id, label: name + " (draft in the bundle)"};
    });
  }

  function parsePaste() {
    var text = $("sb-paste").value.trim();
    if (!text) { return {kind: "empty"}; }
    try {
      var value = JSON.parse(text);
      if (value && value.resourceType === "Bundle") { return {kind: "bundle", value: value}; }
      if (value && typeof value.hook === "string" && value.context) { return {kind: "request", value: value}; }
      return {kind: "invalid", message: "JSON, but neither a FHIR Bundle nor a CDS Hooks request"};
    } catch (err) {
      return {kind: "invalid", message: "not valid JSON: " + err.message};
    }
  }

  // keep: keep the chosen draft if it is still offered (hook changed); otherwise (a new
  // patient) the patient's own first draft, else the first common one.
  function refreshDrafts(keep) {
    var hook = $("sb-hook").value;
    var isOrder = hook === "order-select" || hook === "order-sign";
    var pasted = source() === "paste" ? lastPaste : null;
    var ownDrafts = [];
    if (source() === "sample") {
      var sample = sampleByName($("sb-sample").value);
      ownDrafts = sample ? sample.drafts : [];
    } else if (pasted && pasted.kind === "bundle") {
      ownDrafts = draftsOfBundle(pasted.value);
    }
    var usesRequest = pasted && pasted.kind === "request";
    $("sb-draft-box").hidden = !isOrder || usesRequest;
    var select = $("sb-draft");
    var previous = select.value;
    select.textContent = "";
    if (ownDrafts.length) {
      select.appendChild(el("optgroup", {label: "This patient's draft orders"},
        ownDrafts.map(function (d) { return el("option", {value: d.key, text: d.label}); })));
    }
    select.appendChild(el("optgroup", {label: "Common draft orders"},
      config.commonDrafts.map(function (d) { return el("option", {value: d.key, text: d.label}); })));
    if (keep === true && previous && select.querySelector('option[value="' + CSS.escape(previous) + '"]')) {
      select.value = previous;
    }
  }

  function refreshSource(keepDraft) {
    var isSample = source() === "sample";
    $("sb-sample-box").hidden = !isSample;
    $("sb-paste-box").hidden = isSample;
    var sample = sampleByName($("sb-sample").value);
    $("sb-sample-desc").textContent = sample ? sample.description : "";
    if (!isSample) {
      lastPaste = parsePaste();
      var kind = $("sb-paste-kind");
      kind.textContent = {
        empty: "",
        bundle: "A FHIR Bundle: the request is built from it (prefetch + draft order).",
        request: "A CDS Hooks request: sent as it is, to the service of its hook (" +
          (lastPaste.value ? lastPaste.value.hook : "") + ").",
        invalid: lastPaste.message || ""
      }[lastPaste.kind];
      if (lastPaste.kind === "request" && config.hooks.indexOf(lastPaste.value.hook) >= 0) {
        $("sb-hook").value = lastPaste.value.hook;
      }
    }
    refreshDrafts(keepDraft === true);
  }

  async function fetchJson(url, options) {
    var response = await fetch(url, options);
    noteAuthHeader(response);
    var body = null;
    var text = await response.text();
    if (text) {
      try { body = JSON.parse(text); } catch (err) { body = {raw: text}; }
    }
    return {status: response.status, ok: response.ok, body: body};
  }

  function problem(result, what) {
    if (result.status === 401) {
      return "The service refused the call (401): it runs with CDS_AUTH=jwt and expects a signed " +
        "CDS Hooks JWT, which this sandbox cannot make. Run the service with CDS_AUTH=off " +
        "(make run does) to try rules here.";
    }
    var issue = result.body && result.body.issue && result.body.issue[0];
    var detail = issue ? (issue.diagnostics || issue.code) : (result.body && result.body.raw) || "";
    return what + " failed (HTTP " + result.status + ")" + (detail ? ": " + detail : "");
  }

  async function buildRequest() {
    var hook = $("sb-hook").value;
    var draft = $("sb-draft").value;
    var isOrder = hook !== "patient-view";
    if (source() === "sample") {
      var name = $("sb-sample").value;
      if (!name) { throw new Error("No sample patient is installed: paste a Bundle instead."); }
      var url = "/sandbox/samples/" + encodeURIComponent(name) + "?hook=" + encodeURIComponent(hook) +
        (isOrder && draft ? "&draft=" + encodeURIComponent(draft) : "");
      var result = await fetchJson(url);
      if (!result.ok) { throw new Error(problem(result, "Building the request")); }
      return result.body;
    }
    lastPaste = parsePaste();
    if (lastPaste.kind === "empty") { throw new Error("Paste a FHIR Bundle or a CDS Hooks request first."); }
    if (lastPaste.kind === "invalid") { throw new Error("The pasted text is " + lastPaste.message + "."); }
    if (lastPaste.kind === "request") {
      var request = lastPaste.value;
      if (!request.hookInstance) { request.hookInstance = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()); }
      return request;
    }
    var built = await fetchJson("/sandbox/request", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({bundle: lastPaste.value, hook: hook, draft: isOrder ? draft : null})
    });
    if (!built.ok) { throw new Error(problem(built, "Building the request")); }
    return built.body;
  }

  // ------------------------------------------------------------------------------------------
  // Running and rendering
  // ------------------------------------------------------------------------------------------
  async function run(event) {
    if (event) { event.preventDefault(); }
    showError("");
    setStatus("Running…");
    $("sb-run").disabled = true;
    try {
      var request = await buildRequest();
      var serviceId = config.services[request.hook];
      if (!serviceId) { throw new Error("No service for hook '" + request.hook + "'."); }
      $("sb-request").textContent = JSON.stringify(request, null, 2);
      var options = {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(request)
      };
      var started = performance.now();
      var results = await Promise.all([
        fetchJson("/cds-services/" + encodeURIComponent(serviceId), options),
        fetchJson("/explain/" + encodeURIComponent(serviceId), options)
      ]);
      var cardsResult = results[0];
      var explainResult = results[1];
      if (!cardsResult.ok) { throw new Error(problem(cardsResult, "The service call")); }
      var explanation = explainResult.ok ? explainResult.body : null;
      renderCards(serviceId, cardsResult.body.cards || [], explanation);
      renderGlobal(explanation);
      if (!explainResult.ok) { showError(problem(explainResult, "The explanation")); }
      setStatus(request.hook + " → " + serviceId + ": " + (cardsResult.body.cards || []).length +
        " card(s) in " + Math.round(performance.now() - started) + " ms", "ok");
    } catch (err) {
      setStatus("");
      showError(err.message || String(err));
      $("sb-cards").textContent = "";
      $("sb-cards-title").textContent = "Cards";
      $("sb-global").hidden = true;
    } finally {
      $("sb-run").disabled = false;
    }
  }

  function ruleOf(card) {
    var ext = card.extension && card.extension["neurosteroid-cds"];
    return ext && ext.ruleId ? ext : null;
  }

  function renderCards(serviceId, cards, explanation) {
    var box = $("sb-cards");
    box.textContent = "";
    $("sb-cards-title").textContent = "Cards (" + cards.length + ")";
    $("sb-empty").hidden = cards.length > 0;
    $("sb-empty").textContent = cards.length ? "" : "No cards: the service has nothing to say about this patient for this hook.";
    var order = {critical: 0, warning: 1, info: 2};
    cards.slice().sort(function (a, b) {
      return (order[a.indicator] || 3) - (order[b.indicator] || 3);
    }).forEach(function (card) { box.appendChild(renderCard(serviceId, card, explanation)); });
  }

  function renderCard(serviceId, card, explanation) {
    var indicator = ["info", "warning", "critical"].indexOf(card.indicator) >= 0 ? card.indicator : "info";
    var rule = ruleOf(card);
    var node = el("article", {className: "cds-card sb-card indicator-" + indicator, "data-rule": rule ? rule.ruleId : ""});
    var head = el("header", {className: "card-head"}, [
      el("span", {className: "badge indicator-" + indicator, text: indicator}),
      el("h3", {className: "card-summary", text: card.summary || ""})
    ]);
    node.appendChild(head);
    if (card.detail) {
      var detail = el("div", {className: "cds-card-detail card-detail md"});
      detail.innerHTML = renderMarkdown(card.detail); // escaped by renderMarkdown
      node.appendChild(detail);
    }
    var source = card.source || {};
    var meta = el("p", {className: "cds-card-source card-source"}, ["Source: "]);
    var sourceUrl = safeUrl(source.url);
    meta.appendChild(sourceUrl
      ? el("a", {href: sourceUrl, target: "_blank", rel: "noopener noreferrer", text: source.label || sourceUrl})
      : el("span", {text: source.label || "(none)"}));
    if (rule) {
      meta.appendChild(el("span", {className: "card-rule", text: " · rule " + rule.ruleId + "@" + rule.ruleVersion}));
    }
    node.appendChild(meta);
    var links = (card.links || []).filter(function (l) { return safeUrl(l.url); });
    if (links.length) {
      node.appendChild(el("ul", {className: "card-links"}, links.map(function (l) {
        return el("li", {}, [el("a", {href: l.url, target: "_blank", rel: "noopener noreferrer", text: l.label || l.url})]);
      })));
    }
    var feedbackNote = el("p", {className: "card-feedback", role: "status", "aria-live": "polite"});
    var actions = el("div", {className: "card-actions"});
    (card.suggestions || []).forEach(function (suggestion) {
      var button = el("button", {type: "button", className: "btn btn-suggestion",
        text: suggestion.label || "Accept"});
      var described = (suggestion.actions || []).map(function (a) { return a.description; }).filter(Boolean);
      if (described.length) { button.title = described.join("\n"); }
      button.addEventListener("click", function () {
        var entry = {card: card.uuid, outcome: "accepted", outcomeTimestamp: new Date().toISOString()};
        if (suggestion.uuid) { entry.acceptedSuggestions = [{id: suggestion.uuid}]; }
        sendFeedback(serviceId, entry, node, feedbackNote,
          "Accepted “" + (suggestion.label || "suggestion") + "”" + (described.length ? ": " + described.join("; ") : "") + ".");
      });
      actions.appendChild(button);
    });
    if ((card.overrideReasons || []).length) {
      var reasonSelect = el("select", {className: "override-reason", "aria-label": "Override reason"},
        [el("option", {value: "", text: "Override reason…"})].concat(card.overrideReasons.map(function (r, i) {
          return el("option", {value: String(i), text: r.display || r.code || "reason " + (i + 1)});
        })));
      var comment = el("input", {type: "text", className: "override-comment", placeholder: "Comment (optional)",
        "aria-label": "Override comment", maxlength: "500"});
      var overrideButton = el("button", {type: "button", className: "btn btn-override", text: "Override"});
      overrideButton.addEventListener("click", function () {
        if (reasonSelect.value === "") {
          feedbackNote.textContent = "Pick an override reason first.";
          feedbackNote.className = "card-feedback card-feedback-error";
          return;
        }
        var reason = card.overrideReasons[Number(reasonSelect.value)];
        var overrideReason = {reason: reason};
        if (comment.value.trim()) { overrideReason.userComment = comment.value.trim(); }
        sendFeedback(serviceId, {
          card: card.uuid, outcome: "overridden", overrideReason: overrideReason,
          outcomeTimestamp: new Date().toISOString()
        }, node, feedbackNote, "Overridden: " + (reason.display || reason.code) + ".");
      });
      actions.appendChild(el("span", {className: "override"}, [reasonSelect, comment, overrideButton]));
    }
    var whyButton = el("button", {type: "button", className: "btn btn-why", "aria-expanded": "false", text: "Why?"});
    actions.appendChild(whyButton);
    node.appendChild(actions);
    node.appendChild(feedbackNote);
    var why = renderWhy(rule, explanation);
    why.hidden = true;
    whyButton.addEventListener("click", function () {
      why.hidden = !why.hidden;
      whyButton.setAttribute("aria-expanded", String(!why.hidden));
      whyButton.textContent = why.hidden ? "Why?" : "Hide why";
    });
    node.appendChild(why);
    return node;
  }

  async function sendFeedback(serviceId, entry, cardNode, note, confirmation) {
    if (!entry.card) {
      note.textContent = "This card has no uuid: the service cannot take feedback on it.";
      note.className = "card-feedback card-feedback-error";
      return;
    }
    note.textContent = "Sending feedback…";
    note.className = "card-feedback";
    try {
      var result = await fetchJson("/cds-services/" + encodeURIComponent(serviceId) + "/feedback", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({feedback: [entry]})
      });
      if (!result.ok) { throw new Error(problem(result, "Feedback")); }
      note.textContent = "✓ " + confirmation + " Feedback sent to the service (" + entry.outcome + ").";
      note.className = "card-feedback card-feedback-ok";
      cardNode.classList.add("card-done", "card-" + entry.outcome);
    } catch (err) {
      note.textContent = err.message || String(err);
      note.className = "card-feedback card-feedback-error";
    }
  }

  var HIDDEN_FIELDS = {id: true, type: true};

  function factTable(fact) {
    var rows = Object.keys(fact).filter(function (k) { return !HIDDEN_FIELDS[k]; }).map(function (key) {
      var value = fact[key];
      if (typeof value === "number" && !Number.isInteger(value)) { value = Math.round(value * 100) / 100; }
      return el("tr", {}, [el("th", {text: key}), el("td", {text: typeof value === "object" ? JSON.stringify(value) : String(value)})]);
    });
    return el("table", {className: "fact-table"}, [el("tbody", {}, rows)]);
  }

  function days(value) {
    var n = Math.round(Number(value));
    return n === 1 ? "1 day ago" : n + " days ago";
  }

  function factTitle(fact) {
    var parts = [fact.display || fact.concept || fact.name || fact.type || "fact"];
    if (fact.value !== undefined && fact.value !== null) {
      parts.push((fact.comparator && fact.comparator !== "=" ? fact.comparator : "") +
        String(fact.value) + (fact.unit ? " " + fact.unit : ""));
    }
    var notes = [];
    if (fact.range_status) { notes.push(fact.range_status); }
    if (fact.ref_low !== undefined || fact.ref_high !== undefined) {
      notes.push("ref " + (fact.ref_low !== undefined ? fact.ref_low : "") + "–" +
        (fact.ref_high !== undefined ? fact.ref_high : ""));
    }
    if (fact.source) { notes.push(fact.source); }
    if (fact.days_ago !== undefined) { notes.push(days(fact.days_ago)); }
    else if (fact.episode_days !== undefined) { notes.push("for " + Math.round(fact.episode_days) + " days"); }
    return parts.join(" ") + (notes.length ? " (" + notes.join("; ") + ")" : "");
  }

  function renderWhy(rule, explanation) {
    var box = el("section", {className: "why"});
    box.appendChild(el("h4", {text: "Why this card: the facts its rule matched"}));
    if (!explanation) {
      box.appendChild(el("p", {className: "sb-hint", text: "No explanation (the /explain call failed)."}));
      return box;
    }
    var fired = rule ? (explanation.fired || []).filter(function (f) { return f.ruleId === rule.ruleId; }) : [];
    if (!fired.length) {
      box.appendChild(el("p", {className: "sb-hint", text: "The explanation holds no match for this card's rule."}));
      return box;
    }
    fired.forEach(function (match, index) {
      if (fired.length > 1) { box.appendChild(el("p", {className: "why-match", text: "Match " + (index + 1)})); }
      Object.keys(match.matched || {}).forEach(function (binding) {
        var fact = match.matched[binding];
        box.appendChild(el("details", {className: "why-fact"}, [
          el("summary", {}, [el("code", {text: binding}), " = " + factTitle(fact) + " ", el("span", {className: "sb-hint", text: fact.source_ref || ""})]),
          factTable(fact)
        ]));
      });
      (match.notes || []).forEach(function (n) { box.appendChild(el("p", {className: "why-note", text: n})); });
    });
    return box;
  }

  function renderGlobal(explanation) {
    var box = $("sb-global");
    if (!explanation) { box.hidden = true; return; }
    box.hidden = false;
    var missing = explanation.missingData || [];
    $("sb-missing-count").textContent = "(" + missing.length + ")";
    $("sb-missing").textContent = "";
    missing.forEach(function (m) {
      $("sb-missing").appendChild(el("li", {}, [
        el("strong", {text: m.ruleId}), " — " + m.title + ". ", el("em", {text: m.reason})
      ]));
    });
    if (!missing.length) { $("sb-missing").appendChild(el("li", {className: "sb-hint", text: "None."})); }
    var near = explanation.nearMisses || [];
    $("sb-nearmiss-count").textContent = "(" + near.length + ")";
    $("sb-nearmisses").textContent = "";
    near.forEach(function (n) {
      $("sb-nearmisses").appendChild(el("li", {}, [
        el("strong", {text: n.rule_id}), " — " + n.title + ". Missing: ", el("em", {text: n.missing}),
        n.data ? el("span", {className: "sb-hint", text: " (" + n.data + ")"}) : ""
      ]));
    });
    if (!near.length) { $("sb-nearmisses").appendChild(el("li", {className: "sb-hint", text: "None."})); }
    var skipped = explanation.skipped || [];
    $("sb-skipped-count").textContent = "(" + skipped.length + ")";
    $("sb-skipped").textContent = "";
    skipped.forEach(function (s) {
      $("sb-skipped").appendChild(el("li", {}, [el("code", {text: s.ref}), " — " + s.reason]));
    });
    if (!skipped.length) { $("sb-skipped").appendChild(el("li", {className: "sb-hint", text: "None: every resource was understood or not needed."})); }
    var facts = explanation.facts || [];
    $("sb-facts-count").textContent = "(" + facts.length + ")";
    var status = explanation.dataStatus || {};
    $("sb-datastatus").textContent = Object.keys(status).length
      ? "Data status: " + Object.keys(status).map(function (k) { return k + " " + status[k]; }).join(", ")
      : "";
    var list = $("sb-facts");
    list.textContent = "";
    facts.forEach(function (fact) {
      list.appendChild(el("details", {className: "why-fact"}, [
        el("summary", {}, [el("code", {text: fact.type}), " " + factTitle(fact) + " ", el("span", {className: "sb-hint", text: fact.source_ref || ""})]),
        factTable(fact)
      ]));
    });
  }

  // ------------------------------------------------------------------------------------------
  // Wiring
  // ------------------------------------------------------------------------------------------
  document.querySelectorAll("input[name=source]").forEach(function (radio) {
    radio.addEventListener("change", refreshSource);
  });
  $("sb-sample").addEventListener("change", refreshSource);
  $("sb-paste").addEventListener("input", function () { refreshSource(true); });
  $("sb-hook").addEventListener("change", function () { refreshDrafts(true); });
  $("sb-form").addEventListener("submit", run);
  if (config.auth === "jwt") {
    setStatus("CDS_AUTH=jwt: the service will refuse unsigned calls (401).", "warn");
  }
  refreshSource();
  window.sandboxMarkdown = renderMarkdown; // exposed for tests
})();
