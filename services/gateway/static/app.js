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
// Request fields as a person reads them.
const FIELD = {
  category: "备案类别",
  start_date: "开始日期",
  end_date: "结束日期",
  destination: "就医地",
  "destination.pool_code": "就医地统筹区代码",
  "destination.province_code": "就医省份代码",
  commitment_accepted: "个人承诺",
  referral: "转诊信息",
  "referral.referring_hospital_code": "转出医院编码",
  "referral.hospital_code": "转入医院编码",
  "referral.diagnosis_code": "诊断编码",
  "referral.diagnosis_name": "诊断名称",
  psn_no: "个人编号",
  channel_request_id: "请求编号",
  filing_id: "备案编号",
};
// The service's field-violation descriptions a person meets most, in Chinese; any other
// is shown as sent.
const DESCRIPTION = {
  "is before start_date": "早于开始日期",
  "is required (YYYY-MM-DD)": "必须填写（年-月-日）",
  "not a date in the form YYYY-MM-DD": "不是“年-月-日”格式的日期",
  "not a valid calendar date": "不是有效的日期",
  "unknown pool code": "统筹区代码不存在",
  "unknown province": "省份代码不存在",
  "set exactly one of pool_code and province_code": "统筹区代码与省份代码须填写且只填写其一",
  "is the insured pool: treatment there needs no filing": "是参保地，在参保地就医无需备案",
  "a region-level pool is not a place of treatment": "地市级统筹区代码不能作为就医地",
  "required for a REFERRAL filing": "转诊备案必须填写",
  "only REFERRAL filings carry referral details": "只有转诊备案需要填写转诊信息",
  "a long-term filing is valid until cancelled: leave end_date empty": "长期备案在取消前一直有效，请勿填写结束日期",
  "not a 12-character hospital code": "不是12位医疗机构编码",
  "not a designated hospital": "不是定点医疗机构",
  "not a hospital in the destination": "不是就医地的医疗机构",
  "must be a hospital of the insured pool": "须为参保地的医疗机构",
  "unknown or unset filing category": "请选择备案类别",
};
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
      item.textContent = (FIELD[v.field] || v.field) + "：" + (DESCRIPTION[v.description] || v.description);
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
show();
