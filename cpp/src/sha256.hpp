// SHA-256 (FIPS 180-4), used for the run checksum of results.json.
#pragma once

#include <string>
#include <string_view>

namespace mr {

// Lower-case hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace mr
