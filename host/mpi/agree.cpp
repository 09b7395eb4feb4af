// See agree.hpp.
#include "host/mpi/agree.hpp"

#include "attnmc/error.hpp"
#include "host/mpi/world.hpp"

namespace attnmc::mpi {

std::string outcome_of(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const AgreedFailure& e) {
    return std::to_string(e.code()) + "\n" + e.what();
  } catch (const InputError& e) {
    return "2\n" + std::string(e.what());
  } catch (const std::exception& e) {
    return "1\n" + std::string(e.what());
  } catch (...) {
    return "1\nunknown error";
  }
}

void throw_if_any_failed(const std::vector<std::string>& outcomes, bool name_rank) {
  int first = -1;
  bool all_same = true;
  for (std::size_t r = 0; r < outcomes.size(); ++r) {
    if (outcomes[r].empty()) {
      all_same = false;
      continue;
    }
    if (first < 0)
      first = int(r);
    else if (outcomes[r] != outcomes[std::size_t(first)])
      all_same = false;
  }
  if (first < 0) return;
  const std::string& o = outcomes[std::size_t(first)];
  const std::size_t nl = o.find('\n');
  const int code = std::stoi(o.substr(0, nl));
  std::string message = o.substr(nl + 1);
  if (!all_same && name_rank) message = "rank " + std::to_string(first) + ": " + message;
  throw AgreedFailure(code, message);
}

void agree(const World& world, const std::function<void()>& step) {
  std::exception_ptr error;
  try {
    step();
  } catch (...) {
    error = std::current_exception();
  }
  if (world.size() == 1) {
    if (error) std::rethrow_exception(error);
    return;
  }
  throw_if_any_failed(world.allgather(outcome_of(error)));
}

void agree_on_root(const World& world, const std::function<void()>& step) {
  std::exception_ptr error;
  if (world.root()) try {
      step();
    } catch (...) {
      error = std::current_exception();
    }
  if (world.size() == 1) {
    if (error) std::rethrow_exception(error);
    return;
  }
  throw_if_any_failed(world.allgather(outcome_of(error)), /*name_rank=*/false);
}

}  // namespace attnmc::mpi
