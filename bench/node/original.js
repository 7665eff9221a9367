// The original system's cached pass route, re-created for `make bench` as its source describes it:
// Express; per request an HS256 auth-JWT check, one PostgreSQL read of the student's token, a
// Redis GET of the cached PNG data URL (rendered with `qrcode` at 400 px on a miss), JSON.
// Run by bench/baseline.py with BASELINE_PORT, BASELINE_DATABASE_URL, BASELINE_REDIS_URL and
// BASELINE_JWT_SECRET; it reads qrpass's own students table, so both serve the same subjects.
"use strict";
const express = require("express");
const jwt = require("jsonwebtoken");
const QRCode = require("qrcode");
const { Pool } = require("pg");
const { createClient } = require("redis");

const SECRET = process.env.BASELINE_JWT_SECRET;
const QR_OPTIONS = { width: 400, errorCorrectionLevel: "M" };
const pool = new Pool({ connectionString: process.env.BASELINE_DATABASE_URL, max: 10 });
const redis = createClient({ url: process.env.BASELINE_REDIS_URL });

function authenticate(req, res, next) {
  const header = req.headers.authorization || "";
  if (!header.startsWith("Bearer ")) {
    return res.status(401).json({ success: false, message: "Access token required" });
  }
  try {
    req.user = jwt.verify(header.slice(7), SECRET, { algorithms: ["HS256"] });
    return next();
  } catch (error) {
    return res.status(403).json({ success: false, message: "Invalid or expired token" });
  }
}

const app = express();
app.disable("x-powered-by");
app.get("/v1/students/:id/qr", authenticate, async (req, res) => {
  try {
    const { rows } = await pool.query(
      "SELECT token FROM students WHERE id = $1 AND deleted_at IS NULL", [req.params.id]);
    if (rows.length === 0) {
      return res.status(404).json({ success: false, message: "Student not found" });
    }
    const token = rows[0].token;
    const key = `qr:${token}`;
    let image = await redis.get(key);
    const cached = image !== null;
    if (!cached) {
      image = await QRCode.toDataURL(token, QR_OPTIONS);
      await redis.set(key, image, { EX: 86400 });
    }
    return res.json({ success: true, qr_token: token, qr_image: image, cached });
  } catch (error) {
    return res.status(500).json({ success: false, message: "Failed to generate QR code" });
  }
});

// For the bench's prefill only: render a data URL exactly as a miss would.
app.post("/render", express.text({ limit: "8kb" }), async (req, res) => {
  res.type("text/plain").send(await QRCode.toDataURL(req.body, QR_OPTIONS));
});

redis.connect().then(() => {
  app.listen(Number(process.env.BASELINE_PORT), "127.0.0.1", 4096);
});
