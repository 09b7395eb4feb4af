// Error types. InputError names the offending parameter so the CLI can
// print it and exit with code 2; everything else is an internal/runtime Error.
#pragma once

#include <stdexcept>
#include <string>

namespace attnmc {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad user input: a parameter that is out of range, unknown, unreadable...
class InputError : public Error {
 public:
  InputError(std::string parameter, const std::string& message)
      : Error(parameter + ": " + message), parameter_(std::move(parameter)) {}
  const std::string& parameter() const { return parameter_; }

 private:
  std::string parameter_;
};

}  // namespace attnmc
