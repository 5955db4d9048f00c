// A Node.js client of crossclear's ReferenceService, loaded from the .proto files with
// @grpc/proto-loader: what a hospital information system written in JavaScript would do.
// Shared by the scripts in this folder.
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = path.resolve(__dirname, "..", "..", "protos");
const CALLER_HEADER = "x-crossclear-caller"; // development mode: the caller's code
const DEADLINE_MS = 30_000;

function referenceClient(target) {
  const definition = protoLoader.loadSync("crossclear/reference/v1/reference.proto", {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(definition);
  return new pkg.crossclear.reference.v1.ReferenceService(
    target,
    grpc.credentials.createInsecure(),
  );
}

function call(client, method, request, caller) {
  const metadata = new grpc.Metadata();
  metadata.set(CALLER_HEADER, caller);
  const deadline = new Date(Date.now() + DEADLINE_MS);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

// --- google.rpc.Status from the grpc-status-details-bin trailer, decoded by hand --------
// (protobuf wire format: the few messages needed here, no generated code).

function readVarint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, pos];
    shift += 7;
    if (shift > 63) throw new Error("varint too long");
  }
}

// Fields of a message: [{no, wire, value}], value a number (varint) or a Buffer.
function fields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      let value;
      [value, pos] = readVarint(buf, pos);
      out.push({ no, wire, value });
    } else if (wire === 2) {
      let length;
      [length, pos] = readVarint(buf, pos);
      out.push({ no, wire, value: buf.subarray(pos, pos + length) });
      pos += length;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

function text(fs, no) {
  const f = fs.find((x) => x.no === no);
  return f ? f.value.toString("utf8") : "";
}

// {code, message, details: {localized: {locale, message}, errorInfo: {reason, metadata}}}
function statusDetails(error) {
  const raw = error.metadata && error.metadata.get("grpc-status-details-bin")[0];
  if (!raw) return null;
  const status = fields(Buffer.from(raw));
  const result = { code: 0, message: text(status, 2), localized: null, errorInfo: null };
  for (const f of status) {
    if (f.no === 1) result.code = f.value;
    if (f.no !== 3) continue;
    const any = fields(f.value);
    const typeUrl = text(any, 1);
    const body = fields(any.find((x) => x.no === 2)?.value ?? Buffer.alloc(0));
    if (typeUrl.endsWith("/google.rpc.LocalizedMessage")) {
      result.localized = { locale: text(body, 1), message: text(body, 2) };
    } else if (typeUrl.endsWith("/google.rpc.ErrorInfo")) {
      const metadata = {};
      for (const entry of body.filter((x) => x.no === 3)) {
        const kv = fields(entry.value);
        metadata[text(kv, 1)] = text(kv, 2);
      }
      result.errorInfo = { reason: text(body, 1), domain: text(body, 2), metadata };
    }
  }
  return result;
}

module.exports = { referenceClient, call, statusDetails };
