// base64.h: standard base64 (RFC 4648): decoding with padding optional,
// encoding with padding.
#pragma once

#include <string>

namespace ow {

// Decodes s into *out. False on a character outside the alphabet.
bool base64_decode(const std::string &s, std::string *out);

// Encodes bytes, padded with '='.
std::string base64_encode(const std::string &bytes);

}  // namespace ow
