// Makes a catalogue download with a page size above the maximum and prints what the error
// carries: the request id (trailing metadata x-request-id and the ErrorInfo in
// grpc-status-details-bin) and the zh-CN LocalizedMessage.
//   node tests/node/bad_request.js HOST:PORT CALLER
// Prints one JSON line: {"code", "request_id", "error_info_request_id", "locale", "message_zh"}.
"use strict";

const { referenceClient, call, statusDetails } = require("./reference_client");

async function main() {
  const [target, caller] = process.argv.slice(2);
  if (!target || !caller) throw new Error("usage: bad_request.js HOST:PORT CALLER");
  const client = referenceClient(target);
  try {
    await call(client, "DownloadCatalogue", { page: { page_size: 5000 } }, caller);
    throw new Error("the bad request was accepted");
  } catch (error) {
    if (error.code === undefined) throw error;
    const details = statusDetails(error) || {};
    console.log(
      JSON.stringify({
        code: error.code,
        request_id: (error.metadata.get("x-request-id")[0] || "").toString(),
        error_info_request_id: details.errorInfo ? details.errorInfo.metadata.request_id : null,
        locale: details.localized ? details.localized.locale : null,
        message_zh: details.localized ? details.localized.message : null,
      }),
    );
  } finally {
    client.close();
  }
}

main().catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
