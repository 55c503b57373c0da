// invoke_response.h: §5 on the sidecar: the invoke query and the response
// the caller gets (status and body), as the OpenWhisk controller answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libow/http_query.h"
#include "libow/params.h"

namespace ow::sidecar {

// kTimeoutError, kMaxBlockingWaitMs: libow/http_query.h
using ow::kMaxBlockingWaitMs;
using ow::kTimeoutError;
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
bool parse_invoke_query(std::string_view query, InvokeQuery *q, std::string *err);

// The HTTP status of a finished blocking invoke's answer: 200 success, 502
// application or developer error, 500 whisk error. Its body is the record,
// or the result alone when result=true or when the result is an array (an
// OpenWhisk quirk): invoke_handler.cc.
int blocking_http_status(int status_code);

// {"error": msg, "code": code}: the OpenWhisk error body (libow/params.h)
using ow::error_body;

}  // namespace ow::sidecar
