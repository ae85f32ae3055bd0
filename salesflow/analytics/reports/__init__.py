"""Reports people look at: PNG charts and one self-contained HTML file, drawn from the analytics JSON.

The input is a report document, the JSON that `salesflow analytics report --json` prints (the SQL functions'
own reports under `funnel`, `attribution` {model: report} and `metrics`); nothing here talks to the database.
`charts` turns a document into chart data (exactly the JSON's numbers) and draws PNGs with matplotlib's Agg
canvas (no display, fixed size, no timestamp); `html` builds the page with the charts embedded as base64 PNG
and the tables; `files` writes them so that a failure leaves nothing half-written.
"""
