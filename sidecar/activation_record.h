// activation_record.h: the user-facing activation record (§3), exactly as
// tools/owx/activation.py make_record/write_activation shape and store it,
// made from the activation the sidecar carried (activation.h).
#pragma once

#include <nlohmann/json.hpp>

#include "sidecar/activation.h"

namespace ow::sidecar {

// The record of an activation that ran: its timing, outcome and logs.
nlohmann::json build_record(const Activation &a);

// The journal's stand-ins, stored should this process die before the
// record (activation_journal.h). An activation accepted (202), its run's
// end unknown: a whisk internal error that says its container ended.
nlohmann::json build_unfinished_record(const Activation &a);
// One answered, its logs not collected yet: its outcome, and one log line
// that says the logs were lost. now_ns: that line's time.
nlohmann::json build_record_logs_lost(const Activation &a, int64_t now_ns);

// Where and how a record is stored: libow/activation_store.h.

}  // namespace ow::sidecar
