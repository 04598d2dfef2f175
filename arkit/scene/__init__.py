"""arkit.scene"""
