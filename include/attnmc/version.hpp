#pragma once
namespace attnmc {
constexpr const char* kVersion = "0.1.0";
}
