// Renders the service's OpenAPI 3.1 document as a browsable page.
//
// Self-contained on purpose: no framework, nothing loaded from another origin, and no
// HTML parsing of the document's text (every node is built with createElement and
// textContent), so the page runs under a CSP without 'unsafe-inline' and with Trusted Types.
"use strict";

(function () {
  const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
  let spec = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A very small subset of CommonMark: paragraphs, "- " lists, `code` and **bold**.
  function inline(text) {
    const out = [];
    const re = /`([^`]+)`|\*\*([^*]+)\*\*/g;
    let last = 0;
    let match;
    while ((match = re.exec(text)) !== null) {
      if (match.index > last) out.push(text.slice(last, match.index));
      out.push(match[1] !== undefined ? el("code", {}, match[1]) : el("strong", {}, match[2]));
      last = re.lastIndex;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  function markdown(text) {
    const box = el("div", { class: "desc" });
    if (!text) return box;
    for (const block of text.split(/\n\s*\n/)) {
      const lines = block.split("\n");
      const items = lines.filter((l) => l.startsWith("- "));
      const prose = lines.filter((l) => !l.startsWith("- ")).join(" ").trim();
      if (prose) box.append(el("p", {}, inline(prose)));
      if (items.length) box.append(el("ul", {}, items.map((l) => el("li", {}, inline(l.slice(2))))));
    }
    return box;
  }

  function resolve(node) {
    let seen = 0;
    while (node && typeof node.$ref === "string" && seen++ < 32) {
      const path = node.$ref.replace(/^#\//, "").split("/");
      node = path.reduce((acc, key) => (acc ? acc[key] : undefined), spec);
    }
    return node || {};
  }

  function refName(node) {
    return node && typeof node.$ref === "string" ? node.$ref.split("/").pop() : null;
  }

  function typeLabel(schema) {
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    let type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
    if (!type && (schema.anyOf || schema.oneOf)) type = "one of";
    if (type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
      const items = schema.items || {};
      const inner = refName(items) || typeLabel(resolve(items));
      type = type.replace("array", inner + "[]");
    }
    if (schema.format) type += " (" + schema.format + ")";
    return type || "any";
  }

  function constraints(schema) {
    const parts = [];
    if (schema.enum) parts.push("one of " + schema.enum.map((v) => JSON.stringify(v)).join(", "));
    if (schema.minLength !== undefined) parts.push("min length " + schema.minLength);
    if (schema.maxLength !== undefined) parts.push("max length " + schema.maxLength);
    if (schema.minimum !== undefined) parts.push("≥ " + schema.minimum);
    if (schema.maximum !== undefined) parts.push("≤ " + schema.maximum);
    if (schema.pattern) parts.push("pattern " + schema.pattern);
    if (schema.default !== undefined) parts.push("default " + JSON.stringify(schema.default));
    if (schema.additionalProperties === false) parts.push("no other properties");
    return parts.length ? el("span", { class: "constraint" }, "— " + parts.join("; ")) : null;
  }

  // One schema as a nested list; `depth` stops runaway recursion on self-referencing schemas.
  function schemaTree(raw, depth) {
    const schema = resolve(raw);
    const list = el("ul", { class: "schema" });
    if (depth > 8) return list;
    const variants = schema.anyOf || schema.oneOf;
    if (variants) {
      for (const variant of variants) {
        list.append(el("li", {}, el("span", { class: "type" }, refName(variant) || typeLabel(resolve(variant))),
          schemaTree(variant, depth + 1)));
      }
      return list;
    }
    const items = schema.items ? resolve(schema.items) : null;
    const props = schema.properties || (items && items.properties);
    const required = new Set(schema.required || (items && items.required) || []);
    for (const [name, sub] of Object.entries(props || {})) {
      const resolved = resolve(sub);
      const nested = resolved.properties || resolved.anyOf || resolved.oneOf ||
        (resolved.items && resolve(resolved.items).properties);
      list.append(el("li", {},
        el("span", { class: "name" }, name),
        required.has(name) ? el("span", { class: "req" }, "required") : null,
        " ", el("span", { class: "type" }, refName(sub) || typeLabel(resolved)),
        constraints(resolved),
        resolved.description ? markdown(resolved.description) : null,
        nested ? schemaTree(sub, depth + 1) : null));
    }
    return list;
  }

  function schemaBlock(raw) {
    const schema = resolve(raw);
    const name = refName(raw);
    return el("div", {},
      el("div", {}, el("span", { class: "type" }, name || typeLabel(schema)), constraints(schema)),
      schema.description ? markdown(schema.description) : null,
      schemaTree(raw, 0));
  }

  function parameters(op, pathItem) {
    const params = [...(pathItem.parameters || []), ...(op.parameters || [])].map(resolve);
    if (!params.length) return null;
    return el("div", {}, el("h4", {}, "Parameters"),
      el("table", {},
        el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description")),
        params.map((p) => {
          const schema = resolve(p.schema);
          return el("tr", {},
            el("td", {}, el("span", { class: "name" }, p.name), p.required ? el("span", { class: "req" }, "required") : null),
            el("td", {}, p.in),
            el("td", {}, el("span", { class: "type" }, typeLabel(schema)), constraints(schema)),
            el("td", {}, markdown(p.description)));
        })));
  }

  function content(body) {
    return Object.entries(body.content || {}).map(([media, entry]) =>
      el("div", {}, el("code", {}, media), entry.schema ? schemaBlock(entry.schema) : null));
  }

  function requestBody(op) {
    if (!op.requestBody) return null;
    const body = resolve(op.requestBody);
    return el("div", {}, el("h4", {}, "Request body", body.required ? "" : " (optional)"),
      markdown(body.description), content(body));
  }

  function responses(op) {
    const rows = Object.entries(op.responses || {}).map(([status, raw]) => {
      const response = resolve(raw);
      const headers = Object.entries(response.headers || {}).map(([name, h]) =>
        el("div", {}, el("span", { class: "name" }, name), " ", markdown(resolve(h).description)));
      return el("tr", {},
        el("td", { class: "status" }, status),
        el("td", {}, markdown(response.description), headers.length ? el("div", {}, el("em", {}, "Headers"), headers) : null,
          content(response)));
    });
    return el("div", {}, el("h4", {}, "Responses"), el("table", {}, rows));
  }

  function isPublic(op) {
    const security = op.security !== undefined ? op.security : spec.security || [];
    return security.length === 0 || security.some((s) => Object.keys(s).length === 0);
  }

  function operation(path, method, op, pathItem) {
    return el("details", { class: "op", id: op.operationId || method + path },
      el("summary", {},
        el("span", { class: "method " + method }, method),
        el("span", { class: "path" }, path),
        el("span", { class: "summary" }, op.summary || ""),
        el("span", { class: "lock" }, isPublic(op) ? "public" : "bearer token")),
      el("div", { class: "body" },
        markdown(op.description),
        parameters(op, pathItem),
        requestBody(op),
        responses(op)));
  }

  function render() {
    document.getElementById("title").textContent = spec.info.title + " API";
    document.title = spec.info.title + " API";
    document.getElementById("version").textContent =
      "Version " + spec.info.version + " · OpenAPI " + spec.openapi;
    const main = document.getElementById("content");
    main.replaceChildren(markdown(spec.info.description));

    const byTag = new Map((spec.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
    for (const [path, pathItem] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        const op = pathItem[method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || "other";
        if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
        byTag.get(tag).ops.push(operation(path, method, op, pathItem));
      }
    }
    const toc = el("ul", {});
    for (const { tag, ops } of byTag.values()) {
      if (!ops.length) continue;
      const id = "tag-" + tag.name.replace(/\W+/g, "-");
      toc.append(el("li", {}, el("a", { href: "#" + id }, tag.name)));
      main.append(el("h2", { id }, tag.name), markdown(tag.description), ...ops);
    }
    const schemas = Object.entries((spec.components && spec.components.schemas) || {});
    if (schemas.length) {
      toc.append(el("li", {}, el("a", { href: "#schemas" }, "Schemas")));
      main.append(el("h2", { id: "schemas" }, "Schemas"), ...schemas.map(([name, schema]) =>
        el("details", { class: "op", id: "schema-" + name },
          el("summary", {}, el("span", { class: "path" }, name)),
          el("div", { class: "body" }, schemaBlock(schema)))));
    }
    document.getElementById("toc").replaceChildren(toc);
    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target) {
        if (target.tagName === "DETAILS") target.open = true;
        target.scrollIntoView();
      }
    }
  }

  function fail(error) {
    const main = document.getElementById("content");
    main.replaceChildren(el("p", { class: "error" }, "Could not load openapi.json: " + error));
  }

  document.addEventListener("DOMContentLoaded", () => {
    fetch("openapi.json", { headers: { Accept: "application/json" }, credentials: "omit" })
      .then((response) => {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then((document_) => {
        spec = document_;
        render();
      })
      .catch(fail);
  });
})();
