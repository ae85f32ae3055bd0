// Small DOM helpers every view uses (one copy, imported by the views).

// h('button', {class, testid, text, onclick, 'aria-label': …}, ...children): an element with its attributes,
// listeners and children; null and false attributes and children are left out, other children become text.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'testid') el.dataset.testid = v;
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

// At phone width some tables are shown as cards (CSS); explicit roles keep them a table for screen readers.
export function keepTableRoles(table) {
  table.setAttribute('role', 'table');
  for (const g of table.querySelectorAll('thead, tbody')) g.setAttribute('role', 'rowgroup');
  for (const r of table.querySelectorAll('tr')) r.setAttribute('role', 'row');
  for (const c of table.querySelectorAll('th[scope=col]')) c.setAttribute('role', 'columnheader');
  for (const c of table.querySelectorAll('th[scope=row]')) c.setAttribute('role', 'rowheader');
  for (const c of table.querySelectorAll('td')) c.setAttribute('role', 'cell');
}
