export { isLogLevel, Logger, LOG_LEVELS, type LogLevel } from "./logger";
export { MetricsWriter, toDataPoint, type MetricPoint } from "./metrics";
export { RequestObservation } from "./request-observation";
export { Telemetry, UPLOAD_EVENT_NAMES, type ObservedUpload } from "./telemetry";
export { timedBucket } from "./timed-bucket";
