// The one rule for seeds on every command line (issue 9, defect 10): an
// integer from 0 to 2^64 - 1 in decimal, nothing else (CLI11 would otherwise
// wrap -1 to 2^64 - 1 for an unsigned option).
#pragma once

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <string>

namespace attnmc::cli {

inline CLI::Validator seed_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const bool digits =
            !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        errno = 0;
        if (digits) (void)std::strtoull(text.c_str(), nullptr, 10);
        if (!digits || errno == ERANGE)
          return "a seed is an integer from 0 to 2^64 - 1 = 18446744073709551615, got '" + text +
                 "'";
        return "";
      },
      "SEED");
}

}  // namespace attnmc::cli
