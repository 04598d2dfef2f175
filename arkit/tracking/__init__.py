"""arkit.tracking"""
