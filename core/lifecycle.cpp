#include "shoal/lifecycle.hpp"

namespace shoal {

std::string_view to_string(TerminatedReason r) noexcept {
  switch (r) {
    case TerminatedReason::stopped:
      return "stopped";
    case TerminatedReason::address_terminated:
      return "address_terminated";
    case TerminatedReason::not_found:
      return "not_found";
  }
  return "unknown";
}

}  // namespace shoal
