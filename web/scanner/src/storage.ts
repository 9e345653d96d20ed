// Everything the door keeps on the phone, in IndexedDB, so that a reload or a restart while offline loses nothing.
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { ScannerBundle, SyncResult } from "./api";

export interface Credentials {
  token: string;
  kind: "device" | "user";
  // The device's id, or the user's.
  subject: string;
  name: string;
  eventIds: string[];
  expiresAt: number | null;
}

export interface StoredBundle {
  eventId: string;
  bundle: ScannerBundle;
  etag: string | null;
  fetchedAt: string;
}

/** A scan admitted offline, waiting for POST /api/v1/tickets/sync. */
export interface QueuedScan {
  nonce: string;
  eventId: string;
  ticketId: string;
  qrSignature: string;
  scannedAt: string;
}

/** A ticket this phone let in (online or offline): refused as already used from then on, even without a network. */
export interface Admission {
  ticketId: string;
  eventId: string;
  at: string;
  offline: boolean;
}

/** A queued scan the server did not accept when it arrived: most often a ticket another gate admitted meanwhile. */
export interface SyncProblem extends SyncResult {
  scannedAt: string;
}

interface DoorDatabase extends DBSchema {
  credentials: { key: string; value: Credentials };
  bundles: { key: string; value: StoredBundle };
  queue: { key: string; value: QueuedScan; indexes: { byEvent: string } };
  admissions: { key: string; value: Admission };
  problems: { key: string; value: SyncProblem };
}

const CREDENTIALS_KEY = "current";
let database: Promise<IDBPDatabase<DoorDatabase>> | null = null;

function open(): Promise<IDBPDatabase<DoorDatabase>> {
  database ??= openDB<DoorDatabase>("crowdify-door", 1, {
    upgrade(db) {
      db.createObjectStore("credentials");
      db.createObjectStore("bundles", { keyPath: "eventId" });
      db.createObjectStore("queue", { keyPath: "nonce" }).createIndex("byEvent", "eventId");
      db.createObjectStore("admissions", { keyPath: "ticketId" });
      db.createObjectStore("problems", { keyPath: "nonce" });
    },
  });
  return database;
}

export async function loadCredentials(): Promise<Credentials | undefined> {
  return (await open()).get("credentials", CREDENTIALS_KEY);
}

export async function saveCredentials(credentials: Credentials): Promise<void> {
  await (await open()).put("credentials", credentials, CREDENTIALS_KEY);
}

/** Unpair or revoked: the token and everything learnt with it go. */
export async function forgetEverything(): Promise<void> {
  const db = await open();
  const transaction = db.transaction(["credentials", "bundles", "queue", "admissions", "problems"], "readwrite");
  await Promise.all([...transaction.objectStoreNames].map((name) => transaction.objectStore(name).clear()));
  await transaction.done;
}

export async function loadBundle(eventId: string): Promise<StoredBundle | undefined> {
  return (await open()).get("bundles", eventId);
}

export async function saveBundle(stored: StoredBundle): Promise<void> {
  await (await open()).put("bundles", stored);
}

/** Admit a ticket offline: the queued scan and the admission are written together or not at all. */
export async function admitOffline(scan: QueuedScan): Promise<void> {
  const transaction = (await open()).transaction(["queue", "admissions"], "readwrite");
  await Promise.all([
    transaction.objectStore("queue").put(scan),
    transaction
      .objectStore("admissions")
      .put({ ticketId: scan.ticketId, eventId: scan.eventId, at: scan.scannedAt, offline: true }),
    transaction.done,
  ]);
}

export async function recordAdmission(admission: Admission): Promise<void> {
  await (await open()).put("admissions", admission);
}

export async function findAdmission(ticketId: string): Promise<Admission | undefined> {
  return (await open()).get("admissions", ticketId);
}

export async function admittedTicketIds(): Promise<Set<string>> {
  return new Set(await (await open()).getAllKeys("admissions"));
}

export async function queuedScans(): Promise<QueuedScan[]> {
  return (await open()).getAll("queue");
}

/** A synced batch: its scans leave the queue, and those the server did not accept become problems to show. */
export async function settleQueuedScans(synced: QueuedScan[], problems: SyncProblem[]): Promise<void> {
  const transaction = (await open()).transaction(["queue", "problems"], "readwrite");
  await Promise.all([
    ...synced.map((scan) => transaction.objectStore("queue").delete(scan.nonce)),
    ...problems.map((problem) => transaction.objectStore("problems").put(problem)),
    transaction.done,
  ]);
}

export async function syncProblems(): Promise<SyncProblem[]> {
  return (await open()).getAll("problems");
}

export async function dismissSyncProblems(): Promise<void> {
  await (await open()).clear("problems");
}
