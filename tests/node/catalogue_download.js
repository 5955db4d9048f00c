// Pages through a full catalogue download (1312) and prints how many items it received.
//   node tests/node/catalogue_download.js HOST:PORT CALLER [VER] [PAGE_SIZE]
// Prints one JSON line: {"ver", "items", "total_count", "pages"}.
"use strict";

const { referenceClient, call } = require("./reference_client");

const MAX_PAGES = 10_000;

async function main() {
  const [target, caller, ver = "", pageSize = "200"] = process.argv.slice(2);
  if (!target || !caller) throw new Error("usage: catalogue_download.js HOST:PORT CALLER [VER] [PAGE_SIZE]");
  const client = referenceClient(target);
  const codes = new Set();
  let token = "";
  let pages = 0;
  let total = -1;
  let version = ver;
  do {
    const page = await call(
      client,
      "DownloadCatalogue",
      { ver: version, page: { page_size: Number(pageSize), page_token: token } },
      caller,
    );
    version = page.ver; // later pages of the same version, whatever takes effect meanwhile
    total = page.total_count;
    for (const entry of page.entries) codes.add(entry.item.med_list_codg);
    token = page.next_page_token;
    pages += 1;
    if (pages > MAX_PAGES) throw new Error("too many pages");
  } while (token);
  client.close();
  console.log(JSON.stringify({ ver: version, items: codes.size, total_count: total, pages }));
}

main().catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
