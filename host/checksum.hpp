// SHA-256 checksums (OpenSSL) of files and text: what identifies an input
// file in a summary and what the sweep store verifies its cells with.
#pragma once

#include <string>

namespace attnmc {

// Lower-case hex. sha256_file throws attnmc::Error on a read error.
std::string sha256_file(const std::string& path);
std::string sha256_text(const std::string& text);

}  // namespace attnmc
