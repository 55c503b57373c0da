// base64.h: standard base64 decoding (RFC 4648, padding optional).
#pragma once

#include <string>

namespace ow {

// Decodes s into *out. False on a character outside the alphabet.
bool base64_decode(const std::string &s, std::string *out);

}  // namespace ow
