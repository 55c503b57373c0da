// invoke_response.h: §5 on the sidecar: the invoke query and the response
// the caller gets (status and body), as the OpenWhisk controller answers.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "libow/params.h"

namespace owsc {

extern const char kTimeoutError[];   // "Timeout must be number of milliseconds up to 60000."
constexpr int64_t kMaxBlockingWaitMs = 60000;
// A sequence's component is waited for its time limit plus this (queueing
// in the gate, the answer's way back); conf/nginx.conf's internal listener
// reads that long.
constexpr int64_t kComponentWaitSlackMs = 60000;

struct InvokeQuery {
    bool blocking = false;
    bool result = false;
    int64_t timeout_ms = kMaxBlockingWaitMs;
};

// Parses "blocking=true&result=false&timeout=100". False with *err set (a 400
// message) on an invalid timeout.
bool parse_invoke_query(const std::string &query, InvokeQuery *q, std::string *err);

struct ShapedResponse {
    int http_status;
    nlohmann::json body;
};

// The answer to a finished blocking invoke: 200 success, 502 application or
// developer error, 500 whisk error; body = the activation, or its
// response.result when result=true; an array result is the body whatever
// `result` says (OpenWhisk quirk).
ShapedResponse shape_blocking(const nlohmann::json &activation, int status_code,
                              bool result_only);
// Its HTTP status alone: 200, 502 or 500.
int blocking_http_status(int status_code);

// {"error": msg, "code": code}: the OpenWhisk error body (libow/params.h)
using ow::error_body;

}  // namespace owsc
