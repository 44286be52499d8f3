// The trace report's inline stylesheet and script (trace_report.hpp), kept as
// C++ raw strings so shoal-trace is one binary with no files to find at run
// time. The script is plain ES2017 with no libraries; its parts are joined
// in this order inside one function scope:
//   script_common          the data, formatting, colours, DOM helpers
//   script_timeline        the canvas timeline and its overview (trace_report_timeline.cpp)
//   script_timeline_input  hover, pin, zoom, pan (trace_report_timeline_input.cpp)
//   script_panels          summary, legend, histogram, tables; sets document.title
//   script_tables          the measured per-actor and worker tables (trace_report_tables.cpp)
// The script is Google JavaScript style at 100 columns (clang-format can
// keep it so). To check its syntax: join the five raw strings in order, wrap
// them in `(function () { … })();` and run `node --check`.
#pragma once

#include <string_view>

namespace shoal::tools::report_assets {

extern const std::string_view style;
extern const std::string_view script_common;
extern const std::string_view script_timeline;
extern const std::string_view script_timeline_input;
extern const std::string_view script_panels;
extern const std::string_view script_tables;

}  // namespace shoal::tools::report_assets
