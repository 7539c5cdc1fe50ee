export interface SesLocal {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** Ends the thread and its server; safe to call more than once. */
  close(): Promise<void>;
}

/** Starts aws-ses-v2-local on 127.0.0.1 (never all interfaces) on a free port, in a worker thread. */
export function startSesThread(): Promise<SesLocal>;
