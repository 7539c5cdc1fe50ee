/**
 * One template set: the email is built once as blocks, then written out twice (plain text and
 * HTML), so the two bodies cannot drift apart. Every string in a block is data and is escaped in
 * HTML; only the renderer writes markup.
 */
export type Link = { text: string; href: string };
export type Cell = string | Link;
export type Block =
  | { kind: "lead"; text: string }
  | { kind: "para"; text: string }
  | { kind: "heading"; text: string }
  | { kind: "facts"; rows: [string, Cell][] }
  | { kind: "table"; head: string[]; rows: Cell[][] }
  | { kind: "list"; items: Cell[] };

const cellText = (c: Cell) => (typeof c === "string" ? c : `${c.text}: ${c.href}`);

export function toText(blocks: Block[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case "lead":
      case "para":
        out.push(b.text, "");
        break;
      case "heading":
        out.push(b.text, "-".repeat(Math.min(b.text.length, 60)));
        break;
      case "facts": {
        const width = Math.max(...b.rows.map(([k]) => k.length));
        out.push(...b.rows.map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)} ${cellText(v)}`), "");
        break;
      }
      case "table": {
        const rows = [b.head, ...b.rows.map((row) => row.map(cellText))];
        const widths = b.head.map((_, i) =>
          Math.min(40, Math.max(...rows.map((row) => row[i]?.length ?? 0))),
        );
        const line = (row: string[]) =>
          `  ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")}`.trimEnd();
        out.push(...rows.map(line), "");
        break;
      }
      case "list":
        out.push(...b.items.map((i) => `  - ${cellText(i)}`), "");
        break;
    }
  }
  return `${out.join("\n").trimEnd()}\n`;
}

/** Only http(s) and file links become anchors: a hostile URL is shown as text, never made clickable. */
function htmlCell(c: Cell): string {
  if (typeof c === "string") return escapeHtml(c);
  if (!/^(https?|file):\/\//i.test(c.href)) return `${escapeHtml(c.text)}: ${escapeHtml(c.href)}`;
  return `<a href="${escapeHtml(c.href)}" style="color:#0b57d0">${escapeHtml(c.text)}</a>`;
}

const TD = 'style="padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top"';

export function toHtml(subject: string, blocks: Block[]): string {
  const body = blocks.map((b) => {
    switch (b.kind) {
      case "lead":
        return `<p style="font-size:15px;margin:12px 0">${escapeHtml(b.text)}</p>`;
      case "para":
        return `<p style="margin:8px 0">${escapeHtml(b.text)}</p>`;
      case "heading":
        return `<h3 style="margin:20px 0 6px;font-size:15px">${escapeHtml(b.text)}</h3>`;
      case "facts":
        return `<table style="border-collapse:collapse;font-size:13px">${b.rows
          .map(
            ([k, v]) => `<tr><th align="left" ${TD}>${escapeHtml(k)}</th><td ${TD}>${htmlCell(v)}</td></tr>`,
          )
          .join("")}</table>`;
      case "table":
        return `<table style="border-collapse:collapse;font-size:13px"><tr>${b.head
          .map((h) => `<th align="left" ${TD}>${escapeHtml(h)}</th>`)
          .join("")}</tr>${b.rows
          .map(
            (row) =>
              `<tr>${row.map((c, i) => `<td ${TD}${i === 0 ? ' nowrap="nowrap"' : ""}><code>${htmlCell(c)}</code></td>`).join("")}</tr>`,
          )
          .join("")}</table>`;
      case "list":
        return `<ul style="margin:4px 0;padding-left:20px">${b.items.map((i) => `<li>${htmlCell(i)}</li>`).join("")}</ul>`;
    }
    return "";
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body style="font-family:Arial,Helvetica,sans-serif;color:#111827;max-width:900px;margin:16px">
<h2 style="font-size:18px;margin:0 0 8px">${escapeHtml(subject)}</h2>
${body.join("\n")}
</body></html>`;
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}
