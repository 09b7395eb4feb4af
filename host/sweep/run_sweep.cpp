// The sweep driver: validate every cell, lock the store, then run the cells
// that are not already there, one atomic cell directory at a time.
#include "host/sweep/run_sweep.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "attnmc/error.hpp"
#include "host/cli/command.hpp"
#include "host/output.hpp"
#include "host/sweep/store.hpp"

namespace attnmc::sweep {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string cell_name(std::size_t i) { return cli::format("%04zu", i); }

std::string describe(const Cell& c) {
  std::string s;
  for (const auto& [k, v] : c.params) s += (s.empty() ? "" : ", ") + k + "=" + v;
  return "cell " + std::to_string(c.index) + (s.empty() ? "" : " (" + s + ")");
}

// Progress of the whole sweep: cells, members, rate of this session, ETA.
class SweepProgressLine {
 public:
  SweepProgressLine(bool enabled, std::size_t cells, std::uint64_t members)
      : enabled_(enabled), tty_(::isatty(STDERR_FILENO)), cells_(cells), total_(members) {}
  void update(std::size_t cells_done, std::uint64_t members_done, std::uint64_t computed,
              bool force_line) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const auto interval = tty_ ? std::chrono::milliseconds(250) : std::chrono::seconds(10);
    if (!force_line && now - last_ < interval) return;
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double rate = s > 0 ? double(computed) / s : 0.0;
    std::string eta = "--";
    if (members_done >= total_)
      eta = "done";
    else if (rate > 0)
      eta = cli::format("%.0f s", double(total_ - members_done) / rate);
    std::fprintf(stderr, "%ssweep: %zu / %zu cells, %llu / %llu members, %.3g members/s, ETA %s%s",
                 tty_ ? "\r" : "", cells_done, cells_, (unsigned long long)members_done,
                 (unsigned long long)total_, rate, eta.c_str(),
                 tty_ && cells_done < cells_ ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  bool enabled_, tty_;
  std::size_t cells_;
  std::uint64_t total_;
  Clock::time_point start_ = Clock::now(), last_{};
};

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

}  // namespace

SweepOutcome run_sweep(Plan plan, const std::string& store, const SweepOptions& opt) {
  const auto t0 = Clock::now();
  const cli::Command* cmd = cli::find_command(plan.command);
  if (!cmd) {
    std::string names;
    for (const cli::Command& c : cli::commands()) names += (names.empty() ? "" : ", ") + c.name;
    throw InputError("sweep.command", "unknown command '" + plan.command + "' (" + names + ")");
  }
  for (const Axis& a : plan.axes)
    if (a.key == "ensemble.seed" && plan.seed_rule != SeedRule::fixed)
      throw InputError("sweep.axis", "an axis over ensemble.seed needs seed = \"fixed\"");
  for (const auto& [name, on] : plan.flags) {
    bool known = false;
    for (const auto& [sw, unused] : cmd->switches) known = known || sw == name;
    if (on && !known)
      throw InputError("sweep.check_step", "command '" + plan.command + "' has no --" + name);
  }
  expand(plan, cmd->builtin);
  const nlohmann::json identity = plan.identity();

  // Every cell's configuration first: bad input stops the sweep before any work.
  std::vector<std::uint64_t> members(plan.cells.size());
  std::uint64_t total_members = 0;
  for (Cell& c : plan.cells) {
    for (const std::string& o : opt.execution_overrides) c.source.overrides.push_back(o);
    try {
      members[c.index] = cmd->validate(c.source);
    } catch (const InputError& e) {
      const std::string what = e.what();
      throw InputError(
          e.parameter(),
          describe(c) + ": " + what.substr(std::min(what.size(), e.parameter().size() + 2)));
    }
    total_members += members[c.index];
  }

  // The store: absent, empty, or holding this sweep (a different one only with --force).
  std::error_code ec;
  const fs::path root = fs::absolute(store).lexically_normal();
  if (fs::exists(root, ec) && !fs::is_directory(root, ec))
    throw InputError("output", "'" + store + "' exists and is not a directory");
  // A store being created holds only .lock and cells/ until sweep.json is written.
  if (fs::exists(root, ec) && !fs::exists(root / "sweep.json", ec))
    for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
      const std::string name = e.path().filename().string();
      if (name != ".lock" && name != "cells")
        throw InputError("output", "'" + store + "' is not empty and holds no sweep (" + name +
                                       " but no sweep.json)");
    }
  fs::create_directories(root / "cells", ec);
  if (ec) throw InputError("output", "cannot create '" + store + "': " + ec.message());
  StoreLock lock(root.string());
  if (fs::exists(root / "sweep.json", ec)) {
    nlohmann::json old;
    try {
      old = read_json(root / "sweep.json");
    } catch (const std::exception&) {
      old = nullptr;
    }
    if (old != identity) {
      if (!opt.force)
        throw InputError("output", "'" + store +
                                       "' holds a different sweep (its sweep.json differs); "
                                       "use another directory, or --force to replace it");
      fs::remove_all(root / "cells", ec);
      fs::remove(root / "cells.csv", ec);
      fs::create_directories(root / "cells", ec);
    }
  }
  write_file_atomic((root / "sweep.json").string(), identity.dump(2) + "\n");
  // Temporary table files of interrupted runs (the lock says none is running).
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec))
    if (e.path().filename().string().rfind(".cells.csv.tmp-", 0) == 0) fs::remove(e.path(), ec);

  SweepOutcome out;
  out.cells = plan.cells.size();
  SweepProgressLine line(opt.progress, plan.cells.size(), total_members);
  std::uint64_t done_members = 0, computed_members = 0;
  std::vector<nlohmann::json> records;
  for (const Cell& c : plan.cells) {
    const fs::path dir = root / "cells" / cell_name(c.index);
    if (fs::exists(dir, ec)) {
      const std::string bad = verify_cell(dir.string());
      if (bad.empty()) {
        records.push_back(read_json(dir / "cell.json"));
        ++out.reused;
        if (records.back().value("status", "") == "failed") ++out.failed;
        done_members += members[c.index];
        line.update(records.size(), done_members, computed_members, false);
        if (opt.progress_hook) opt.progress_hook(done_members, total_members);
        continue;
      }
      if (!opt.quiet)
        std::fprintf(stderr, "attnmc: note: %s: %s; recomputing it\n", describe(c).c_str(),
                     bad.c_str());
      fs::remove_all(dir, ec);
      ++out.recomputed_corrupt;
    }
    StagedDirectory stage(dir.string(), false);
    cli::RunContext cx;
    cx.timing = false;
    cx.quiet = true;
    cx.flags = plan.flags;
    cx.flags["no-plot"] = true;
    const std::uint64_t before = done_members;
    cx.progress = [&, before](std::uint64_t d, std::uint64_t) {
      line.update(records.size(), before + d, computed_members + d, false);
      if (opt.progress_hook) opt.progress_hook(before + d, total_members);
    };
    nlohmann::json rec;
    rec["cell"] = c.index;
    rec["params"] = c.params;
    rec["seed"] = c.seed;
    try {
      const cli::CommandResult r = cmd->run(c.source, stage, cx);
      rec["status"] = r.failure.empty() ? "ok" : "failed";
      rec["reason"] = r.failure;
      rec["scalars"] = r.scalars;
    } catch (const InputError&) {
      throw;  // validated above: a bug, not a cell result
    } catch (const std::exception& e) {
      rec["status"] = "failed";
      rec["reason"] = e.what();
      rec["scalars"] = nlohmann::json::object();
    }
    rec["files"] = file_manifest(stage.path());
    stage.write_text("cell.json", rec.dump(2) + "\n");
    stage.commit();
    if (rec["status"] == "failed") {
      ++out.failed;
      if (!opt.quiet)
        std::fprintf(stderr, "attnmc: warning: %s failed: %s\n", describe(c).c_str(),
                     rec["reason"].get<std::string>().c_str());
    }
    records.push_back(rec);
    ++out.computed;
    done_members += members[c.index];
    computed_members += members[c.index];
    write_file_atomic((root / "cells.csv").string(), cells_csv(records));
    line.update(records.size(), done_members, computed_members, true);
    if (opt.after_cell) opt.after_cell(c.index);
  }
  write_file_atomic((root / "cells.csv").string(), cells_csv(records));
  out.cell_records = std::move(records);
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace attnmc::sweep
