// runtime_reply_input.h: a runtime's reply as the fuzz targets write it
// (fuzz_input.h): a head "<kind> <status> [<length>]" (kind ok, too_large,
// timed_out or dropped; length defaults to length_default, or the body's
// size when that is < 0) and the body. Shared by the targets that feed the
// sidecar's reply mapping (sidecar/run_result.h).
#pragma once

#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "sidecar/runtime_client.h"

namespace fuzz {

inline ow::sidecar::RuntimeReply runtime_reply(std::string_view head, std::string_view body,
                                               long long length_default = -1) {
    ow::sidecar::RuntimeReply r;
    std::string_view kind = take_word(&head);
    std::string_view status = take_word(&head);
    r.kind = kind == "too_large" ? ow::sidecar::RuntimeReply::too_large
             : kind == "timed_out" ? ow::sidecar::RuntimeReply::timed_out
             : kind == "dropped"   ? ow::sidecar::RuntimeReply::dropped
                                   : ow::sidecar::RuntimeReply::ok;
    r.status = (int)number(status, 200, 0, 999);
    r.body = std::string(body);
    if (length_default < 0) length_default = (long long)r.body.size();
    r.length = (uint64_t)number(head, length_default, 0, 1LL << 40);
    return r;
}

}  // namespace fuzz
