"""arkit.io"""
