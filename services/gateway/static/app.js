// The web filing page: signs the person in (development identity provider), then calls
// only the public HTTP API (/v1/...) with the person's token.
"use strict";

const CATEGORY = {
  FILING_CATEGORY_OTHER_TEMPORARY: "临时外出就医",
  FILING_CATEGORY_LONG_TERM_RESIDENT: "异地长期居住",
  FILING_CATEGORY_RETIREE_RESETTLED: "异地安置退休",
  FILING_CATEGORY_STATIONED_WORKER: "常驻异地工作",
  FILING_CATEGORY_REFERRAL: "异地转诊",
  FILING_CATEGORY_EMERGENCY: "异地急诊抢救",
};
const STATUS = {
  FILING_STATUS_ACTIVE: "有效",
  FILING_STATUS_SUPERSEDED: "已变更",
  FILING_STATUS_CANCELLED: "已取消",
};
// Field violations are shown as the server words them in Chinese: each BadRequest
// violation carries a zh-CN localized_message (shared/zh_fields.py).
const RPC = "type.googleapis.com/google.rpc.";

const $ = (id) => document.getElementById(id);
let session = JSON.parse(sessionStorage.getItem("session") || "null");

function requestId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + session.token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ message: response.statusText }));
  if (!response.ok) {
    throw Object.assign(new Error(data.message || response.statusText), { status: data, http: response.status });
  }
  return data;
}

function showError(error) {
  const box = $("errors");
  box.textContent = "";
  const status = error.status || { message: String(error) };
  const details = status.details || [];
  const zh = details.find((d) => d["@type"] === RPC + "LocalizedMessage");
  const head = document.createElement("p");
  head.textContent = zh ? zh.message : status.message;
  box.appendChild(head);
  const bad = details.find((d) => d["@type"] === RPC + "BadRequest");
  if (bad) {
    const list = document.createElement("ul");
    for (const v of bad.field_violations || []) {
      const item = document.createElement("li");
      item.className = "violation";
      item.dataset.field = v.field;
      const zhText = v.localized_message && v.localized_message.message;
      item.textContent = zhText || v.field + "：" + v.description;
      item.title = v.field + ": " + v.description;
      list.appendChild(item);
    }
    box.appendChild(list);
  } else if (status.http === 429 || error.http === 429) {
    head.textContent += "（请稍后再试）";
  }
  box.classList.add("shown");
  $("notice").textContent = "";
}

function clearMessages(notice) {
  $("errors").classList.remove("shown");
  $("errors").textContent = "";
  $("notice").textContent = notice || "";
}

function place(filing) {
  const d = filing.destination || {};
  return d.pool_code || (d.province_code ? d.province_code + "（省）" : "");
}

async function refresh() {
  const data = await api("GET", `/v1/persons/${encodeURIComponent(session.psn_no)}/filings?page.page_size=50`);
  const body = $("filings").querySelector("tbody");
  body.textContent = "";
  for (const f of data.filings) {
    const row = body.insertRow();
    row.dataset.filingId = f.filing_id;
    row.dataset.status = f.status;
    for (const text of [f.filing_id, CATEGORY[f.category] || f.category, place(f),
                        f.valid_from_date, f.valid_until_date || "—", STATUS[f.status] || f.status]) {
      row.insertCell().textContent = text;
    }
    const cell = row.insertCell();
    if (f.status === "FILING_STATUS_ACTIVE") {
      const change = document.createElement("button");
      change.type = "button";
      change.className = "change";
      change.textContent = "变更";
      change.addEventListener("click", () => openChange(f));
      cell.appendChild(change);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cancel";
      button.textContent = "取消备案";
      button.addEventListener("click", () => cancel(f.filing_id));
      cell.appendChild(button);
    }
  }
}

async function cancel(filingId) {
  try {
    await api("POST", `/v1/filings/${encodeURIComponent(filingId)}:cancel`, {
      channel: "CHANNEL_WEB",
      channel_request_id: requestId(),
      reason: "CHANGE_REASON_PERSONAL_REQUEST",
    });
    clearMessages("备案已取消：" + filingId);
    await refresh();
  } catch (error) {
    showError(error);
  }
}

function openChange(filing) {
  const d = filing.destination || {};
  $("change-id").textContent = filing.filing_id;
  $("change-box").dataset.filingId = filing.filing_id;
  $("change-pool").value = d.pool_code || "";
  $("change-end").value = filing.valid_until_date || "";
  $("change-box").classList.remove("hidden");
}

async function change(event) {
  event.preventDefault();
  const filingId = $("change-box").dataset.filingId;
  const request = {
    channel: "CHANNEL_WEB",
    channel_request_id: requestId(),
    reason: "CHANGE_REASON_PERSONAL_REQUEST",
  };
  const pool = $("change-pool").value.trim();
  if (pool) request.destination = { pool_code: pool };
  if ($("change-end").value) request.end_date = $("change-end").value;
  try {
    const reply = await api("POST", `/v1/filings/${encodeURIComponent(filingId)}:change`, request);
    $("change-box").classList.add("hidden");
    clearMessages("备案已变更：" + reply.filing.filing_id);
    await refresh();
  } catch (error) {
    showError(error);
  }
}

async function submit(event) {
  event.preventDefault();
  const category = $("category").value;
  const request = {
    channel: "CHANNEL_WEB",
    channel_request_id: requestId(),
    psn_no: session.psn_no,
    category,
    destination: $("pool").value ? { pool_code: $("pool").value.trim() } : { province_code: $("province").value.trim() },
    start_date: $("start").value,
    end_date: $("end").value,
    commitment_accepted: $("commit").checked,
  };
  if (category === "FILING_CATEGORY_REFERRAL") {
    request.referral = {
      referring_hospital_code: $("referring").value.trim(),
      hospital_code: $("hospital").value.trim(),
      diagnosis_code: $("diagnosis-code").value.trim(),
      diagnosis_name: $("diagnosis-name").value.trim(),
    };
  }
  try {
    const reply = await api("POST", "/v1/filings", request);
    clearMessages("备案成功：" + reply.filing.filing_id);
    await refresh();
  } catch (error) {
    showError(error);
  }
}

async function signIn() {
  const psn = $("psn").value.trim();
  const response = await fetch("/dev/sign-in", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ psn_no: psn, channel: "channel-web" }),
  });
  const data = await response.json();
  if (!response.ok) {
    showError({ status: { message: data.error || "登录失败" } });
    return;
  }
  session = { psn_no: psn, token: data.token };
  sessionStorage.setItem("session", JSON.stringify(session));
  await show();
}

async function show() {
  const signedIn = Boolean(session);
  $("sign-in-box").classList.toggle("hidden", signedIn);
  $("main").classList.toggle("hidden", !signedIn);
  if (!signedIn) return;
  $("who").textContent = session.psn_no;
  try {
    await refresh();
  } catch (error) {
    showError(error);
  }
}

$("sign-in").addEventListener("click", signIn);
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem("session");
  session = null;
  show();
});
$("category").addEventListener("change", () => {
  $("referral").classList.toggle("hidden", $("category").value !== "FILING_CATEGORY_REFERRAL");
});
$("filing-form").addEventListener("submit", submit);
$("change-form").addEventListener("submit", change);
$("change-close").addEventListener("click", () => $("change-box").classList.add("hidden"));
show();
