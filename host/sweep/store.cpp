// The sweep store's files: lock, checksums, verification, the cell table.
#include "host/sweep/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attnmc/error.hpp"
#include "host/checksum.hpp"
#include "host/output.hpp"

namespace attnmc::sweep {
namespace {

namespace fs = std::filesystem;

// A CSV field: numbers as JSON writes them (null, i.e. NaN, as nan), text quoted when needed.
std::string csv_field(const nlohmann::json& v) {
  std::string s;
  if (v.is_null())
    s = "nan";  // a NaN read back from cell.json (JSON has no NaN)
  else if (v.is_number_float() && !std::isfinite(v.get<double>()))
    s = std::isnan(v.get<double>()) ? "nan" : v.get<double>() > 0 ? "inf" : "-inf";
  else if (v.is_string())
    s = v.get<std::string>();
  else
    s = v.dump();
  if (s.find_first_of(",\"\n") != std::string::npos) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    s = q + "\"";
  }
  return s;
}

}  // namespace

StoreLock::StoreLock(const std::string& store) {
  const std::string path = store + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError("output", "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string holder = n > 0 ? std::string(buf, std::size_t(n)) : std::string("?");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    throw InputError("output", "the store '" + store + "' is in use by another sweep (pid " +
                                   holder + "); wait for it to finish or stop it");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)::pwrite(fd_, pid.data(), pid.size(), 0);
}

StoreLock::~StoreLock() {
  if (fd_ >= 0) {
    if (::ftruncate(fd_, 0) != 0) {
    }  // a stale pid is harmless: the lock itself is the flock
    ::close(fd_);
  }
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const fs::path p(path);
  const std::string tmp =
      (p.parent_path() / ("." + p.filename().string() + ".tmp-" + std::to_string(::getpid())))
          .string();
  try {
    write_file_checked(tmp, text, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw Error("output: cannot write " + path + ": " + std::strerror(err));
  }
}

nlohmann::json file_manifest(const std::string& dir) {
  nlohmann::json files = nlohmann::json::object();
  std::vector<fs::path> paths;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "cell.json") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths)
    files[p.filename().string()] = {{"bytes", fs::file_size(p)},
                                    {"sha256", sha256_file(p.string())}};
  return files;
}

std::string verify_cell(const std::string& dir) {
  std::error_code ec;
  const fs::path cell = fs::path(dir) / "cell.json";
  if (!fs::is_regular_file(cell, ec)) return "no cell.json";
  nlohmann::json j;
  try {
    std::ifstream f(cell);
    j = nlohmann::json::parse(f);
  } catch (const std::exception&) {
    return "cell.json is not valid JSON";
  }
  if (!j.contains("files") || !j["files"].is_object()) return "cell.json lists no files";
  for (const auto& [name, info] : j["files"].items()) {
    const fs::path p = fs::path(dir) / name;
    if (!fs::is_regular_file(p, ec)) return name + " is missing";
    if (fs::file_size(p, ec) != info.value("bytes", std::uint64_t(0)))
      return name + " has the wrong size (truncated?)";
    if (sha256_file(p.string()) != info.value("sha256", std::string()))
      return name + " does not match its checksum (corrupted)";
  }
  return {};
}

std::string cells_csv(const std::vector<nlohmann::json>& cells) {
  std::vector<std::string> params, scalars;
  auto add = [](std::vector<std::string>& cols, const std::string& k) {
    if (std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
  };
  for (const nlohmann::json& c : cells) {
    for (const auto& p : c["params"]) add(params, p[0].get<std::string>());
    for (const auto& [k, unused] : c["scalars"].items()) add(scalars, k);
  }
  std::string out = "cell,status,reason";
  for (const std::string& p : params) out += "," + csv_field(p);
  out += ",seed";
  for (const std::string& s : scalars) out += "," + csv_field(s);
  out += "\n";
  for (const nlohmann::json& c : cells) {
    out += std::to_string(c["cell"].get<std::size_t>()) + "," + csv_field(c["status"]) + "," +
           csv_field(c["reason"]);
    for (const std::string& name : params) {
      std::string v;
      for (const auto& p : c["params"])
        if (p[0] == name) v = p[1].get<std::string>();
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out += "," + csv_field(v);
    }
    out += "," + csv_field(c["seed"].dump());
    for (const std::string& s : scalars)
      out += "," + (c["scalars"].contains(s) ? csv_field(c["scalars"][s]) : std::string());
    out += "\n";
  }
  return out;
}

}  // namespace attnmc::sweep
