"""image_service: renders QR codes and caches the images; it knows nothing of students."""
