/* hmd_assets.c - the console's CSS and JavaScript, as C string literals. */
#include "hmd_assets.h"

#include <string.h>

static const char s_css[] =
    ":root{--fg:#1d2330;--mut:#5b6475;--bg:#f6f7f9;--card:#fff;--line:#dde1e8;"
    "--cf:#b3261e;--su:#b26a00;--ge:#1e7b34;--ac:#2457c5}\n"
    "*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}\n"
    "header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#1d2330;color:#fff}\n"
    "header a.brand{color:#fff;font-weight:600;text-decoration:none;margin-right:auto}\n"
    "header .who{color:#c9d1e0}header button{background:transparent;color:#fff;border:1px solid #667;border-radius:4px;padding:.2rem .6rem;cursor:pointer}\n"
    "main{max-width:1100px;margin:1.2rem auto;padding:0 1.2rem}\n"
    "h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:1.2rem 0 .5rem}\n"
    ".inline{display:inline}form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-bottom:1rem;"
    "background:var(--card);padding:.7rem;border:1px solid var(--line);border-radius:6px}\n"
    "label{display:flex;flex-direction:column;font-size:.8rem;color:var(--mut)}\n"
    "input,select,textarea{font:inherit;padding:.3rem .4rem;border:1px solid var(--line);border-radius:4px}\n"
    "button,.btn{font:inherit;padding:.35rem .9rem;border-radius:4px;border:1px solid var(--ac);background:var(--ac);color:#fff;cursor:pointer;text-decoration:none}\n"
    "button.reject{background:#fff;color:var(--fg);border-color:var(--line)}\n"
    "table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:6px}\n"
    "th,td{padding:.45rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}\n"
    "th{font-size:.8rem;color:var(--mut);font-weight:600}tr:hover td{background:#f0f3f8}\n"
    "td img{width:56px;height:56px;object-fit:cover;border-radius:4px;background:#eee}\n"
    ".tag{display:inline-block;padding:.05rem .5rem;border-radius:10px;font-size:.8rem;color:#fff}\n"
    ".tag.counterfeit{background:var(--cf)}.tag.suspect{background:var(--su)}.tag.genuine{background:var(--ge)}\n"
    ".tag.confirmed{background:var(--cf)}.tag.rejected{background:var(--mut)}\n"
    ".pager{display:flex;gap:1rem;margin:1rem 0;align-items:center;color:var(--mut)}\n"
    ".pair{display:flex;flex-wrap:wrap;gap:1.2rem}.pair figure{margin:0;background:var(--card);border:1px solid var(--line);"
    "border-radius:6px;padding:.6rem}.pair img{display:block;width:240px;height:240px;object-fit:contain;background:#eee}\n"
    "figcaption{font-size:.8rem;color:var(--mut);margin-top:.3rem;max-width:240px;overflow-wrap:anywhere}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;background:var(--card);border:1px solid var(--line);"
    "border-radius:6px;padding:.7rem}dt{color:var(--mut)}dd{margin:0;overflow-wrap:anywhere}\n"
    ".act{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.7rem;display:flex;gap:.6rem;align-items:end}\n"
    ".act textarea{width:28rem;height:2.4rem}.msg{padding:.5rem .8rem;border-radius:4px;background:#fdecea;color:var(--cf)}\n"
    ".login{max-width:22rem;margin:4rem auto;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1.2rem;"
    "display:flex;flex-direction:column;gap:.7rem}.empty{color:var(--mut);padding:1rem}\n";

/* Small progressive enhancements only: the console works without them. */
static const char s_js[] =
    "'use strict';\n"
    "document.addEventListener('DOMContentLoaded', function () {\n"
    "  // Rows of the queue open their verdict when clicked anywhere.\n"
    "  document.querySelectorAll('tr[data-href]').forEach(function (tr) {\n"
    "    tr.style.cursor = 'pointer';\n"
    "    tr.addEventListener('click', function (ev) {\n"
    "      if (ev.target.closest('a')) return;\n"
    "      window.location = tr.getAttribute('data-href');\n"
    "    });\n"
    "  });\n"
    "  // Changing a filter re-runs the query.\n"
    "  document.querySelectorAll('form.filters select').forEach(function (s) {\n"
    "    s.addEventListener('change', function () { s.form.submit(); });\n"
    "  });\n"
    "  // Decisions are not undone from here: ask once.\n"
    "  document.querySelectorAll('form.act button[name=action]').forEach(function (b) {\n"
    "    b.addEventListener('click', function (ev) {\n"
    "      if (b.form.dataset.noconfirm) return;\n"
    "      if (!window.confirm(b.value === 'confirm' ? 'Confirm as counterfeit?' : 'Reject (allow-list this image)?'))\n"
    "        ev.preventDefault();\n"
    "    });\n"
    "  });\n"
    "});\n";

static const hmd_asset_t s_assets[] = {
    { "/static/console.css", "text/css; charset=utf-8", s_css },
    { "/static/console.js", "text/javascript; charset=utf-8", s_js },
};

const hmd_asset_t *hmd_asset_find(const char *url)
{
    for (size_t i = 0; i < sizeof s_assets / sizeof s_assets[0]; i++)
        if (strcmp(url, s_assets[i].path) == 0)
            return &s_assets[i];
    return NULL;
}
