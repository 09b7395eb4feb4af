// Helpers shared by the command files: progress lines, scripts, summaries.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "host/cli/command.hpp"
#include "host/mpi/scale_out_report.hpp"

namespace attnmc::cli {

namespace fs = std::filesystem;

std::string format(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// Progress on stderr with rate and ETA: carriage-return updates four times a
// second on a terminal; on anything else plain lines every ten seconds (a log
// file stays readable), and always the final line.
Progress progress_printer(bool enabled, std::string label) {
  if (!enabled) return {};
  const bool tty = ::isatty(STDERR_FILENO);
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  auto start = std::chrono::steady_clock::now();
  auto printed_final = std::make_shared<bool>(false);
  return [=](std::uint64_t done, std::uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    const auto interval = tty ? std::chrono::milliseconds(250) : std::chrono::milliseconds(10000);
    if (done < total && now - *last < interval) return;
    if (done >= total && *printed_final) return;
    *last = now;
    const double s = std::chrono::duration<double>(now - start).count();
    const double rate = s > 0 ? double(done) / s : 0.0;
    std::string eta = "--";
    if (done >= total)
      eta = "done";
    else if (rate > 0)
      eta = format("%.0f s", double(total - done) / rate);
    std::fprintf(stderr, "%s%s: %llu / %llu members (%3.0f%%), %.3g members/s, %.1f s, ETA %s%s",
                 tty ? "\r" : "", label.c_str(), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total),
                 total > 0 ? 100.0 * double(done) / double(total) : 100.0, rate, s, eta.c_str(),
                 tty && done < total ? "" : "\n");
    if (done >= total) *printed_final = true;
    std::fflush(stderr);
  };
}

std::string find_script(const std::string& name) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    candidates.push_back(exe.parent_path() / "scripts" / name);
    candidates.push_back(exe.parent_path().parent_path() / "scripts" / name);
  }
#ifdef ATTNMC_SOURCE_DIR
  candidates.push_back(fs::path(ATTNMC_SOURCE_DIR) / "scripts" / name);
#endif
  for (const fs::path& p : candidates)
    if (fs::is_regular_file(p, ec)) return p.string();
  return {};
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void write_summary(StagedDirectory& dir, nlohmann::json summary, const RunContext& cx) {
  if (!cx.timing) {
    summary.erase("timings");
    summary.erase("seconds");
  } else if (cx.scale_out) {
    // How the processes of a split run shared it (like timings, not part of the result).
    const nlohmann::json p = mpi::processes_json(*cx.scale_out);
    if (!p.is_null()) summary["processes"] = p;
  }
  dir.write_text("summary.json", summary.dump(2) + "\n");
}

void warn(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "attnmc: warning: %s\n", message.c_str());
}

std::string all_nonfinite_failure(const EnsembleStatistics& st, const char* what) {
  if (st.per_layer().empty()) return {};
  const LayerStatistics& L = st.per_layer().back();
  if (L.members == 0 || L.nonfinite < L.members) return {};
  return format("every one of the %lld %s is non-finite at record %d", (long long)L.members, what,
                L.layer);
}

std::vector<FlagAlias> model_aliases() {
  return {
      {"--tokens,-m", "model.tokens", "tokens m"},
      {"--heads", "model.heads", "heads H"},
      {"--tau0", "model.tau0", "temperature tau0"},
      {"--gamma", "model.gamma", "residual weight gamma (lambda = sqrt(1 - gamma^2))"},
      {"--lambda", "model.lambda", "residual weight lambda"},
      {"--mlp", "model.mlp", "shaped ReLU MLP block after attention", FlagAlias::Kind::flag},
      {"--c-plus", "model.c_plus", "MLP slope shape c_plus"},
      {"--c-minus", "model.c_minus", "MLP slope shape c_minus"},
      {"--rho0", "input.rho0", "input: V0 = (1 - rho0) I + rho0 11^T"},
  };
}

bool flag(const RunContext& cx, const std::string& name) {
  auto it = cx.flags.find(name);
  return it != cx.flags.end() && it->second;
}

nlohmann::json step_check_json(double dt, int order, const std::vector<Headline>& at_dt,
                               const std::vector<Headline>& at_half) {
  const double shrink = 1.0 - std::pow(2.0, -order);
  nlohmann::json rows = nlohmann::json::array();
  bool any = false;
  for (std::size_t i = 0; i < at_dt.size() && i < at_half.size(); ++i) {
    const Headline &a = at_dt[i], &b = at_half[i];
    const double diff = a.value - b.value;
    const double se_diff = std::hypot(a.stderr_, b.stderr_);
    const bool detected = std::isfinite(diff) && std::abs(diff) > 2 * se_diff;
    any = any || detected;
    rows.push_back({{"statistic", a.name},
                    {"value", a.value},
                    {"stderr", a.stderr_},
                    {"value_half_step", b.value},
                    {"stderr_half_step", b.stderr_},
                    {"bias", diff / shrink},
                    {"bias_stderr", se_diff / shrink},
                    {"detected", detected}});
  }
  return {{"dt", dt},
          {"half_dt", dt / 2},
          {"weak_order", order},
          {"statistics", rows},
          {"bias_detected", any},
          {"rule", "bias = (x_dt - x_dt/2) / (1 - 2^-order)"}};
}

std::string step_check_table(const nlohmann::json& c) {
  std::string t = format(
      "step check: dt = %g against dt / 2 (weak order %d): estimated bias of "
      "the dt run\n",
      c["dt"].get<double>(), c["weak_order"].get<int>());
  auto num = [](const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); };
  for (const nlohmann::json& r : c["statistics"])
    t += format(
        "  %-14s %10.5f +- %.5f: bias %+.5f +- %.5f%s\n", r["statistic"].get<std::string>().c_str(),
        num(r["value"]), num(r["stderr"]), num(r["bias"]), num(r["bias_stderr"]),
        r["detected"].get<bool>() ? "  <- above the Monte Carlo error: use a smaller dt" : "");
  if (!c["bias_detected"].get<bool>())
    t += "  no bias detected at twice the standard error of the difference\n";
  return t;
}

}  // namespace attnmc::cli
