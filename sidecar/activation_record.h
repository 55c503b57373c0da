// activation_record.h: the user-facing activation record (§3), exactly as
// tools/owx/activation.py make_record/write_activation shape and store it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar/run_result.h"

namespace owsc {

struct RecordInput {
    std::string ns;            // caller's namespace (where it is stored)
    std::string subject;
    std::string name;          // action name only
    std::string version;
    std::string activation_id;
    int64_t start = 0, end = 0;
    RunOutcome outcome;
    std::vector<std::string> logs;
    std::string path;          // ns/pkg/name of the action run
    std::string kind;
    nlohmann::json limits;
    int64_t wait_time = 0;
    int64_t init_time = -1;    // < 0: not a cold start, no annotation
    std::string binding;       // "ns/binding" when invoked through one
    // The activation that caused this one (a sequence or conductor run by
    // the gateway, header X-OW-Cause): the record gets "cause" and the
    // annotation causedBy: "sequence", as OpenWhisk's invoker writes them.
    std::string cause;
    // false when the cause is a trigger (X-OW-Cause-Kind: trigger, from
    // the pool-manager's fire consumer): OpenWhisk writes causedBy only
    // for the components of sequences and conductors
    bool caused_by_sequence = true;
    // W3C trace id (trace_context.h): annotation traceId when set
    std::string trace_id;
};

nlohmann::json build_record(const RecordInput &in);

// Where and how a record is stored: libow/activation_store.h.

}  // namespace owsc
