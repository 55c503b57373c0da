// invoke_response.cc: see invoke_response.h.
#include "sidecar/invoke_response.h"

namespace ow::sidecar {

bool parse_invoke_query(std::string_view query, InvokeQuery *q, std::string *err) {
    return ow::for_each_query_param(query, [q, err](std::string_view k, std::string_view v) {
        if (k == "blocking") {
            q->blocking = v == "true";
        } else if (k == "result") {
            q->result = v == "true";
        } else if (k == "timeout" && !ow::parse_wait_timeout(v, &q->timeout_ms)) {
            *err = kTimeoutError;
            return false;
        }
        return true;
    });
}

int blocking_http_status(int status_code) {
    return status_code == 0 ? 200 : status_code == 3 ? 500 : 502;
}

}  // namespace ow::sidecar
